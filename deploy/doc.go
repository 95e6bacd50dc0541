// Package deploy holds the hub's deployment files, and no code: its tests
// check them against each other and against the hub itself.
//
//   - ../Dockerfile: a multi-stage build of static binaries, a non-root final
//     stage running /hub serve --config /etc/lienthong/hub.yaml.
//   - compose/: Kafka (three KRaft nodes), PostgreSQL, two hubs, portalsim,
//     Prometheus and Grafana; its hub.yaml loads with hub.LoadConfig under
//     the hub services' environment and names the compose services.
//   - kubernetes/: kustomize manifests (Deployment, Service, ConfigMap from
//     hub.yaml, Secret placeholders, PodDisruptionBudget).
//   - systemd/: a hardened unit.
//   - local/hub.yaml: hub serve against `go run ./cmd/portalsim` on localhost.
//   - hub.example.yaml, grafana/, prometheus/: the example configuration,
//     dashboard and alert rules (ops/metrics checks the last two against the
//     series the hub exposes).
//
// None of it can be run by these tests (no container engine, no cluster):
// they parse every file, load each hub configuration with the hub's own
// loader, and check that addresses, ports, paths and names agree.
package deploy
