# rolesync's container image: a static (musl) binary on an empty base, run as a non-root user.
#   docker build -t rolesync/rolesync:0.1.0 .

FROM rust:1.89-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/*
RUN rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY benches ./benches
# The operator alone: no sandbox (the in-memory Kubernetes API and the provider simulators
# stay out of the image), built with the `image` profile (Cargo.toml).
RUN cargo build --profile image --locked --bin rolesync --no-default-features --features jemalloc \
      --target "$(uname -m)-unknown-linux-musl" \
 && cp "target/$(uname -m)-unknown-linux-musl/image/rolesync" /rolesync

FROM scratch
# Provider APIs are reached over HTTPS: bring the CA bundle.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /rolesync /rolesync
# The chart's pod security context runs as this user too.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/rolesync"]
CMD ["run"]
