# The Consul agent of the docker-compose stack (`consul agent -dev -config-dir=/consul/config`).
# A dev agent: one server, in memory, no ACLs. The services register themselves with it
# (CONSUL_HTTP_ADDR), each with an HTTP check on its /healthz that this agent runs; the
# gateway and the services find each other through /v1/health/service/<name>?passing.
#
# In production run a real cluster, turn ACLs on and give each service a token with
# `service:write` on its own name and `service:read` on the others (CONSUL_HTTP_TOKEN).

datacenter = "dc1"
node_name  = "compose"
# The services reach the HTTP API across the compose network.
client_addr = "0.0.0.0"
ui_config {
  enabled = true
}
log_level = "INFO"
