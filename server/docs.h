/* docs.h - the API described for people and programs: GET /openapi.json and GET /docs. */
#ifndef CT_SERVER_DOCS_H
#define CT_SERVER_DOCS_H

#include "request.h"

/* Builds the OpenAPI document the daemon serves: the compiled-in one, plus the bearer
 * security scheme when the daemon has a token. 0, or -1 (out of memory or a broken
 * document, a build error). The caller frees *out. */
int ct_docs_openapi(int with_auth, char **out, size_t *len);

enum MHD_Result ct_docs_send_openapi(http_request *r);
enum MHD_Result ct_docs_send_page(http_request *r);

#endif /* CT_SERVER_DOCS_H */
