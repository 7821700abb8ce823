# syntax=docker/dockerfile:1
# The scrapepath operator image: built in a Rust builder, run from a distroless runtime as a non-root user.
#   docker build -t <registry>/scrapepath:0.1.0 .
# The release profile keeps debug info for profiling; the image's binary drops it (stripped).

# ---- build ----
# The toolchain the repository is developed and tested with (Cargo.toml's rust-version is the minimum).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY examples ./examples
# Cache mounts keep the registry and the dependency builds between image builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --bin scrapepath \
 && install -D -m 0755 target/release/scrapepath /out/scrapepath \
 && /out/scrapepath --version

# ---- runtime ----
# glibc and libgcc, CA certificates, no shell, no package manager; the "nonroot" user is uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/scrapepath /usr/local/bin/scrapepath
USER 65532:65532
# /metrics and /healthz + /readyz (the chart's metrics.port and health.port).
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/scrapepath"]
CMD ["run"]
