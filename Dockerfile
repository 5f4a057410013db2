# syntax=docker/dockerfile:1
#
# smartassist-bridge: one static binary in a distroless image.
#
#   docker build -t smartassist-bridge .
#   docker run --rm -p 8080:8080 -p 9090:9090 smartassist-bridge   # demo mode
#
# Not built in this repository's CI: its machines have the docker CLI but no
# engine. deploy/README.md has the commands.

# Build stage. The tag pins Go's minor version and the Debian release, not a
# digest, so patch releases of Go arrive on rebuild.
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Modules first: this layer is reused until go.mod or go.sum change, so a
# source edit does not download the module graph again. The cache mounts
# (BuildKit) keep modules and build cache across builds too.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

# Then the source. gen/ is committed, so no buf or protoc runs here.
COPY . .
# CGO_ENABLED=0: a static binary, which the static distroless image needs (no
# libc there). -trimpath drops local paths from the binary, so builds are
# reproducible; -s -w drop the symbol table and DWARF (smaller image; stack
# traces keep function names and lines).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" \
      -o /out/smartassist-bridge ./cmd/smartassist-bridge

# Runtime stage: distroless static has CA certificates (for HTTPS to
# SmartAssist), tzdata and /etc/passwd, and no shell or package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/smartassist-bridge /smartassist-bridge
# The image's "nonroot" user, by number: Kubernetes' runAsNonRoot can only
# verify a numeric USER.
USER 65532:65532
# 8080: gRPC, gRPC-Web and Connect (h2c and HTTP/1.1). 9090: /metrics,
# /healthz, /readyz.
EXPOSE 8080 9090
# Exec form: the binary is PID 1 and gets SIGTERM itself, which starts its
# drain (health NOT_SERVING, --drain-delay, then graceful shutdown).
ENTRYPOINT ["/smartassist-bridge"]
