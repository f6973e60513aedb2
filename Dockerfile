# sekisho in a container: the gateway as user `sekisho`, data in the volume /var/lib/sekisho,
# configuration /etc/sekisho/sekisho.toml (the Debian package's), the store key as a secret.
#
#   docker build -t sekisho .
#   sekisho key generate store.key          # once; keep it out of the data volume's backups
#   docker run -d --name sekisho -p 25:25 -p 587:587 -p 127.0.0.1:8025:8025 \
#     -v sekisho-data:/var/lib/sekisho \
#     -v "$PWD/store.key:/run/secrets/sekisho-store-key:ro" \
#     -v "$PWD/sekisho.toml:/etc/sekisho/sekisho.toml:ro" sekisho
#   docker kill --signal=HUP sekisho        # reload the configuration
#
# Binding ports 25 and 587 as a non-root user relies on Docker's default
# net.ipv4.ip_unprivileged_port_start=0 inside the container.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/sekisho

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && adduser --system --group --home /var/lib/sekisho --no-create-home --shell /usr/sbin/nologin sekisho \
 && install -d -o sekisho -g sekisho -m 0700 /var/lib/sekisho
COPY --from=build /src/target/release/sekisho /usr/bin/sekisho
COPY packaging/sekisho.toml /etc/sekisho/sekisho.toml
# In a container the portal listens on every address of the container (publish it on the
# host's loopback, behind the TLS proxy); the store key is the mounted secret, read as a
# systemd-style credential (/run/secrets/sekisho-store-key), so a configuration of your own
# needs no key_file.
RUN sed -i -e 's/^address = "127.0.0.1:8025"/address = "0.0.0.0:8025"/' /etc/sekisho/sekisho.toml
ENV CREDENTIALS_DIRECTORY=/run/secrets
VOLUME /var/lib/sekisho
EXPOSE 25 587 8025
USER sekisho
ENV SEKISHO_CONFIG=/etc/sekisho/sekisho.toml
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/sekisho"]
CMD ["serve"]
