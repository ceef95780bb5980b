/* handlers.h - one function per route (routes.c names each route's), called by http.c once
 * the request's body has arrived. Each answers with the ct_http_* helpers of request.h and
 * returns their result, or queues a job (ct_http_submit) that answers later. */
#ifndef CT_SERVER_HANDLERS_H
#define CT_SERVER_HANDLERS_H

#include "request.h"

/* meta.c: the daemon itself */
enum MHD_Result ct_handle_root(http_request *r);
enum MHD_Result ct_handle_healthz(http_request *r);
enum MHD_Result ct_handle_readyz(http_request *r);
enum MHD_Result ct_handle_metrics(http_request *r);

/* docs.c: the API described for people and programs */
enum MHD_Result ct_handle_openapi(http_request *r);
enum MHD_Result ct_handle_docs(http_request *r);
/* Builds the OpenAPI document the daemon serves: the compiled-in one, plus the bearer
 * security scheme when the daemon has a token. 0, or -1 (out of memory or a broken
 * document, a build error). The caller frees *out. */
int ct_docs_openapi(int with_auth, char **out, size_t *len);

/* convtranspose.c: POST /convtranspose */
enum MHD_Result ct_handle_convtranspose(http_request *r);

/* layers.c: /v1/layers */
enum MHD_Result ct_handle_layer_list(http_request *r);
enum MHD_Result ct_handle_layer(http_request *r);     /* GET, PUT, DELETE /v1/layers/{name} */
enum MHD_Result ct_handle_layer_run(http_request *r); /* POST /v1/layers/{name}/convtranspose */

/* oip.c: the Open Inference Protocol (/v2) */
enum MHD_Result ct_handle_v2_server(http_request *r);
enum MHD_Result ct_handle_v2_live(http_request *r);
enum MHD_Result ct_handle_v2_ready(http_request *r);
enum MHD_Result ct_handle_v2_model(http_request *r);
enum MHD_Result ct_handle_v2_model_ready(http_request *r);
enum MHD_Result ct_handle_v2_infer(http_request *r);
enum MHD_Result ct_handle_v2_stats(http_request *r);
enum MHD_Result ct_handle_v2_repository_index(http_request *r);
enum MHD_Result ct_handle_v2_repository_load(http_request *r);
enum MHD_Result ct_handle_v2_repository_unload(http_request *r);

#endif /* CT_SERVER_HANDLERS_H */
