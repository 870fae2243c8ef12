# syntax=docker/dockerfile:1
# Build: docker build -t revenue-api .
# The image holds a static binary and the built SPA, and runs as a non-root user.
# It needs DATABASE_URL and a keys directory (mount it, mode 0600 files).

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
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
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/revenue-api"]
CMD ["serve"]
