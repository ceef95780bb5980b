/* assets.S - the files the daemon serves as they are, compiled in (no files to install, no
 * CDN): the OpenAPI document and the /docs page. Each is NUL-terminated. */
    .section .rodata
    .global ct_asset_openapi
ct_asset_openapi:
    .incbin "server/www/openapi.json"
    .byte 0
    .global ct_asset_docs
ct_asset_docs:
    .incbin "server/www/docs.html"
    .byte 0
    .section .note.GNU-stack,"",@progbits
