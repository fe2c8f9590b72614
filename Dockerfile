# ad-connect container images, one per binary, from one file:
#   docker build --target server -t adc-server .
#   docker build --target agent  -t adc .
# (podman build works the same.) README "Containers" shows how to run them; the
# docker-compose.yml beside this file starts a whole setup with sample data.

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# --- build: both binaries, release profile -------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The commit `--version` names (the build context has no .git): --build-arg.
ARG ADC_GIT_COMMIT=unknown
ENV ADC_GIT_COMMIT=${ADC_GIT_COMMIT}
RUN cargo build --release --locked --bin adc-server --bin adc \
 && mkdir -p /out \
 && cp target/release/adc-server target/release/adc /out/

# --- runtime: CA certificates and a user, nothing else --------------------------------
FROM ${BASE_IMAGE} AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 adc \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin adc \
 && mkdir -p /data /etc/ad-connect \
 && chown adc:adc /data
ARG VERSION=0.1.0
ARG SOURCE=""
LABEL org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="ad-connect"

# --- the agent: AD_CONNECT_* from the environment, adc.yaml mounted -------------------
FROM runtime AS agent
COPY --from=build /out/adc /usr/bin/adc
LABEL org.opencontainers.image.title="adc" \
      org.opencontainers.image.description="ad-connect agent: keeps the cloud directory in step with LDAP or Active Directory"
ENV AD_CONNECT_CONFIG=/etc/ad-connect/adc.yaml
USER 10001:10001
WORKDIR /data
# Exec form: SIGTERM (stop) and SIGHUP (reload adc.yaml) reach the agent itself.
ENTRYPOINT ["/usr/bin/adc"]
CMD ["run"]

# --- the server: embedded SQLite in the /data volume, or ADC_DATABASE_URL -------------
FROM runtime AS server
# The agent beside the server is what its Downloads page offers for this platform.
COPY --from=build /out/adc-server /out/adc /usr/bin/
LABEL org.opencontainers.image.title="adc-server" \
      org.opencontainers.image.description="ad-connect server: directory synchronization service"
ENV ADC_LISTEN=0.0.0.0:8080 \
    ADC_DATABASE_URL=sqlite:/data/adc.sqlite
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/bin/adc-server", "health"]
ENTRYPOINT ["/usr/bin/adc-server"]
CMD ["serve"]
