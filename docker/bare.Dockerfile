# bare.Dockerfile - a new user's machine: Debian bookworm-slim with only make and git, and a
# fresh clone of the repository. docker/bare-test.sh runs `make test` in it, so every package
# and program the build and the tests need must come from the project's own scripts.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends make git \
 && rm -rf /var/lib/apt/lists/*
COPY src /src
WORKDIR /src
CMD ["make", "test"]
