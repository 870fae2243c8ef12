# syntax=docker/dockerfile:1
# Build: docker build -t revenue-api .
# The image holds a static binary and the built SPA, and runs as a non-root user.
# It needs DATABASE_URL and a keys directory (mount it, mode 0600 files).
# Each stage copies only the files it builds from, so a host's keys, .data or
# node_modules never reach a layer, with or without .dockerignore.

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
# What `vite build` reads; never the host's node_modules, which would
# overwrite the ones npm ci just installed for this platform.
COPY web/index.html web/docs.html web/vite.config.js ./
COPY web/src ./src
COPY web/docs ./docs
COPY web/build ./build
COPY web/public ./public
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY cmd ./cmd
COPY internal ./internal
COPY migrations ./migrations
COPY api/api.go api/openapi.yaml ./api/
# internal/systemtest builds the binary with the same flags and runs it as the
# image does (uid 65532, compose.yaml's environment): keep the two alike.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/revenue-api ./cmd/revenue-api \
 && mkdir -p /out/keys && chmod 700 /out/keys

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/revenue-api /revenue-api
COPY --from=web /src/web/dist /web
# An empty keys directory owned by the runtime user, so a volume mounted here is writable by it.
COPY --from=build --chown=65532:65532 /out/keys /keys
ENV REVENUE_HTTP_ADDR=:8080 \
    REVENUE_KEYS_DIR=/keys \
    REVENUE_WEB_DIR=/web
# Numeric, so that a runtime can check it is not root (runAsNonRoot).
USER 65532:65532
EXPOSE 8080
# The image has no shell or curl: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/revenue-api", "healthcheck"]
ENTRYPOINT ["/revenue-api"]
CMD ["serve"]
