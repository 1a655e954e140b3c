# Multi-stage build of both binaries; `--target gateway` or `--target api` picks the image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gateway -p api

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 app \
    && mkdir /app && chown app /app
# A writable working directory, so the default KEYS_DIR (.data/keys) works in a plain `docker run`.
WORKDIR /app
USER app

FROM runtime AS gateway
COPY --from=build /src/target/release/gateway /usr/local/bin/gateway
ENV GATEWAY_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM runtime AS api
COPY --from=build /src/target/release/api /usr/local/bin/api
ENV API_ADDR=0.0.0.0:8081
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/api"]
