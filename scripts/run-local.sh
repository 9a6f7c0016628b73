#!/usr/bin/env bash
# `make run`: the whole product on this machine, stopped together with Ctrl-C.
# Without NOTION_TOKEN it also starts the Notion emulator with a demo page of to-dos.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

export API_HOST="${API_HOST:-127.0.0.1}"
export API_PORT="${API_PORT:-8000}"
export LOG_FORMAT="${LOG_FORMAT:-console}"
WORKERS="${WORKERS:-2}"
# The API wants a key; locally, one well-known key unless you configure your own.
if [[ -z "${API_KEYS:-}${API_KEYS_FILE:-}${API_AUTH:-}" ]]; then
  export API_KEYS="local:read+write:notion-batch-local-key"
  local_key=notion-batch-local-key
fi
auth_header="${local_key:+ -H 'Authorization: Bearer $local_key'}"
DEMO_PAGE=0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f
# The second demo page (emulator/notion_batch/emulator/demo.py): a page as real workspaces
# hold them — unsupported blocks, synced copies, columns, a template, trash, child pages.
REAL_DEMO_PAGE=1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo; echo "stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop_all INT TERM EXIT

if [[ -z "${NOTION_TOKEN:-}" ]]; then
  export NOTION_EMULATOR_PORT="${NOTION_EMULATOR_PORT:-8700}"
  export NOTION_EMULATOR_TOKENS="${NOTION_EMULATOR_TOKENS:-secret_emulator_token}"
  export NOTION_TOKEN="${NOTION_EMULATOR_TOKENS%%,*}"
  export NOTION_BASE_URL="http://127.0.0.1:${NOTION_EMULATOR_PORT}"
  "$BIN/notion-batch-emulator" --demo & pids+=($!)
  using_emulator=yes
fi

"$BIN/notion-batch" migrate

"$BIN/notion-batch-api" & pids+=($!)
OPS_PORT=9100 "$BIN/notion-batch-scheduler" & pids+=($!)
for n in $(seq "$WORKERS"); do OPS_PORT=$((9100 + n)) "$BIN/notion-batch-worker" & pids+=($!); done

for _ in $(seq 50); do
  curl -fsS "http://$API_HOST:$API_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

page="${DEMO_PAGE}"
[[ -n "${using_emulator:-}" ]] || page="<your-notion-page-id-or-url>"
cat <<EOF

  notion-batch is running: API on http://$API_HOST:$API_PORT, $WORKERS workers${using_emulator:+, Notion emulator on $NOTION_BASE_URL}.
  Metrics and probes: scheduler http://127.0.0.1:9100/metrics, workers :9101…:$((9100 + WORKERS)).
${using_emulator:+
  Demo pages in the emulator (either id works below):
    $DEMO_PAGE  notion-batch demo: a tidy list of to-dos
    $REAL_DEMO_PAGE  notion-batch demo: a real page — unsupported blocks, synced
        copies (one of a page not shared), columns, toggles, a template, trash, child pages
}
  Start a batch on the ${using_emulator:+demo }page (every 10 s for 2 minutes):
    curl -s -X POST http://$API_HOST:$API_PORT/api/v1/batch/start$auth_header \\
         -H 'Content-Type: application/json' \\
         -d '{"notion_page_id": "$page", "interval_seconds": 10, "duration_seconds": 120}'
  Watch it:
    curl -s$auth_header http://$API_HOST:$API_PORT/api/v1/batch/status/$page
${using_emulator:+  See the page as Notion would show it:
    curl -s $NOTION_BASE_URL/_emulator/pages/$page
}
${local_key:+  The CLI: export NOTION_BATCH_API_KEY=$local_key; .venv/bin/notion-batch status $page --watch
}
  Ctrl-C stops everything.

EOF
wait -n "${pids[@]}" || true
