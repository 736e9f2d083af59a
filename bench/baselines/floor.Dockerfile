# Baseline for bench/run.sh variant "floor": the least a BuildKit build of the binary does, to
# measure the engine's own cost per build beside imggen's. The context copied, one `cargo build`
# with Cargo's registry and target/ in cache mounts, the binary copied onto debian:bookworm-slim.
# Not a Dockerfile to ship: no dependency layer (a registry cache carries nothing), root at run
# time, no stop signal. @BUILDER@ is the builder image imggen chooses, @PKG@ the binary; its
# .dockerignore is `target` and `.git`.
FROM @BUILDER@ AS builder
WORKDIR /app
COPY . .
RUN --mount=type=cache,id=imggen-cargo-home,target=/usr/local/cargo/registry \
    --mount=type=cache,id=bench-floor-target-@PKG@,target=/app/target \
    cargo build --release --locked --bin @PKG@ \
    && install -D -m 0755 target/release/@PKG@ /out/@PKG@

FROM debian:bookworm-slim AS runtime
COPY --from=builder /out/@PKG@ /usr/local/bin/@PKG@
ENTRYPOINT ["/usr/local/bin/@PKG@"]
