# Baseline for bench/run.sh variant "chef": the Dockerfile of cargo-chef's README ("How to use"),
# with the builder image imggen chooses (@BUILDER@) and the runtime debian:bookworm-slim; @PKG@ is
# the binary. Its .dockerignore is `target` and `.git`.
FROM @BUILDER@ AS chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Build dependencies - this is the caching Docker layer!
RUN cargo chef cook --release --recipe-path recipe.json
# Build application
COPY . .
RUN cargo build --release --bin @PKG@

# We do not need the Rust toolchain to run the binary!
FROM debian:bookworm-slim AS runtime
WORKDIR /app
COPY --from=builder /app/target/release/@PKG@ /usr/local/bin
ENTRYPOINT ["/usr/local/bin/@PKG@"]
