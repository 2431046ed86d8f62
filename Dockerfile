# The gitops agent's container image.
#   docker build -t gitops-agent:0.1.0 .
# Stage 1 builds the agent (an example binary of the workspace) in release mode; stage 2 is a
# slim Debian with only what the binary uses at run time: CA certificates for HTTPS
# repositories and clusters, and the OpenSSH client for ssh:// repositories (gix runs `ssh`).
# It runs as a non-root user and needs no writable root filesystem (the Git cache and /tmp are
# volumes in deploy/base/deployment.yaml).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --example gitops-agent \
 && cp target/release/examples/gitops-agent /gitops-agent

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 gitops && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp gitops
COPY --from=build /gitops-agent /usr/local/bin/gitops-agent
USER 65532:65532
ENV HOME=/tmp
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gitops-agent"]
CMD ["--app-namespace=argocd", "--listen=0.0.0.0:8080", "--cache-dir=/var/cache/gitops", "--log-format=json"]
