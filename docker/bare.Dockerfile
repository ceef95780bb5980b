# bare.Dockerfile - a new user's machine: Debian bookworm-slim with only make and git, and a
# fresh clone of the repository. docker/bare-test.sh runs `make test` in it, so every package
# and program the build and the tests need must come from the project's own scripts.
FROM debian:bookworm-slim
# The certificate authorities this machine's network adds (a TLS-intercepting egress proxy),
# if any: bare-test.sh copies /usr/local/share/ca-certificates here. They change nothing on a
# network without such a proxy; the packages still all come from the project's scripts.
COPY local-ca/ /usr/local/share/ca-certificates/
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends make git \
 && rm -rf /var/lib/apt/lists/*
COPY src /src
WORKDIR /src
CMD ["make", "test"]
