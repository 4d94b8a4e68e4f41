# Build a static binary, then ship it alone on distroless as a non-root user.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o image-watcher .

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/image-watcher .
USER 65532:65532
ENTRYPOINT ["/image-watcher"]
