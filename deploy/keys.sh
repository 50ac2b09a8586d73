#!/usr/bin/env bash
# The keygen step of a CURVE cluster (docs/security.md): a keypair for the
# broker, each agent, each runner and each subscriber, laid out as the
# broker's --allow-* directories expect.
#
#   deploy/keys.sh /etc/loads/keys 5 alice,ci dashboard
#     -> broker.key broker.pub
#        agents/agent-1.key ... agents/agent-5.pub
#        runners/alice.key runners/ci.key ...
#        subscribers/dashboard.key ...
#
# Copy each NAME.key to its host only (mode 0600); the broker needs the
# .pub files only, plus broker.key; every peer needs broker.pub.
set -euo pipefail
dir=${1:?usage: keys.sh DIR AGENTS [RUNNER,RUNNER...] [SUBSCRIBER,...]}
agents=${2:?how many agents}
runners=${3:-runner}
subscribers=${4:-}
keygen=${LOADS_BROKER:-loads-broker}
mkdir -p "$dir/agents" "$dir/runners" "$dir/subscribers"
chmod 0755 "$dir" "$dir/agents" "$dir/runners" "$dir/subscribers"
"$keygen" keygen broker --dir "$dir"
for i in $(seq 1 "$agents"); do "$keygen" keygen "agent-$i" --dir "$dir/agents"; done
IFS=, read -r -a names <<< "$runners"
for n in "${names[@]}"; do "$keygen" keygen "$n" --dir "$dir/runners"; done
if [[ -n "$subscribers" ]]; then
    IFS=, read -r -a names <<< "$subscribers"
    for n in "${names[@]}"; do "$keygen" keygen "$n" --dir "$dir/subscribers"; done
fi
