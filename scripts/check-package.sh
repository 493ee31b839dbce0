#!/usr/bin/env bash
# npm run check:package (issue 10): the package as a user gets it.
#  0. Checks that the README's code blocks taken from examples/ match them.
#  1. Builds and packs the working tree into a temporary directory.
#  2. Checks the tarball's file list: what must be there is, and no tests, benchmark, demo,
#     sources, tsconfigs or source maps.
#  3. For each app in examples/: copies it to the temporary directory, installs the tarball with a
#     plain `npm install <tarball>` (plus the app's own dependencies), checks that the install
#     printed no warning but the one @apollo/server itself prints on Node 20, type-checks it
#     (strict, NodeNext, no skipLibCheck), builds it, starts it on a free port on the embedded
#     database and drives it with graphql-request, graphql-ws's client and (the Yoga app)
#     graphql-sse's client (scripts/check-package/drive.ts).
# Any failing step stops the script with a message saying which. KEEP_WORK=1 keeps the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d -t gsc-check-package-XXXXXX)
SERVER_PID=
INSTALLS=()

cleanup() {
  for pid in "${INSTALLS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill "$SERVER_PID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
  echo >&2
  echo "check-package: FAIL: $*" >&2
  exit 1
}

echo "== [${SECONDS}s] README code = examples/ code"
npx --no-install tsx scripts/check-package/readme.ts || fail "README.md (or a page of docs/ or demo/README.md) and examples/ disagree: update one to match the other"

echo "== [${SECONDS}s] npm pack (prepack builds)"
npm pack --pack-destination "$WORK" >"$WORK/pack.log" 2>&1 || { cat "$WORK/pack.log"; fail "npm pack failed"; }
TARBALL=$(ls "$WORK"/graphql-session-controller-*.tgz)
echo "$(basename "$TARBALL"): $(du -k "$TARBALL" | cut -f1) kB"

echo "== [${SECONDS}s] tarball file list"
tar -tzf "$TARBALL" | sed 's#^package/##' | sort >"$WORK/files.txt"
echo "$(wc -l <"$WORK/files.txt") files"
for required in package.json README.md LICENSE CHANGELOG.md schema.graphql \
  dist/src/index.js dist/src/index.d.ts dist/src/type-graphql.js dist/src/type-graphql.d.ts \
  dist/src/envelop.js dist/src/envelop.d.ts \
  dist/migrations/index.js dist/migrations/index.d.ts; do
  grep -qx "$required" "$WORK/files.txt" || fail "the tarball lacks $required"
done
grep -qE '^dist/embedded/embedded-[0-9a-f]+\.tar\.gz$' "$WORK/files.txt" || fail "the tarball lacks the embedded snapshot (dist/embedded/*.tar.gz)"
# Nothing but the compiled package and its documents: no tests, benchmark, demo, drills,
# examples, scripts, sources (a .ts that is not a .d.ts), tsconfigs or source maps.
unwanted=$(grep -E '^(test|bench|demo|drills|examples|scripts|docs|src|migrations|node_modules|\.ci)/|tsconfig|\.map$|(^|/)[^/]*\.ts$' "$WORK/files.txt" | grep -vE '\.d\.ts$' || true)
[ -z "$unwanted" ] || fail "the tarball ships files it must not:
$unwanted"

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

EXAMPLES="type-graphql-standalone schema-first-express yoga"

# The installs are mostly waiting on the network and the disk: both at once.
echo "== [${SECONDS}s] npm install <tarball> in a copy of each example"
for example in $EXAMPLES; do
  APP="$WORK/$example"
  mkdir -p "$APP"
  (cd "$ROOT/examples/$example" && tar --exclude=node_modules --exclude=dist -cf - .) | (cd "$APP" && tar -xf -)
  if grep -q skipLibCheck "$APP/tsconfig.json"; then fail "examples/$example/tsconfig.json must not use skipLibCheck"; fi
  (cd "$APP" && npm install --no-audit --no-fund --prefer-offline "$TARBALL") >"$APP/install.log" 2>&1 &
  INSTALLS+=("$!")
done
i=0
for example in $EXAMPLES; do
  APP="$WORK/$example"
  wait "${INSTALLS[$i]}" || {
    cat "$APP/install.log"
    fail "npm install of the tarball failed in examples/$example"
  }
  i=$((i + 1))
done

for example in $EXAMPLES; do
  echo
  echo "== [${SECONDS}s] examples/$example"
  APP="$WORK/$example"
  grep -q 'ERESOLVE' "$APP/install.log" && { cat "$APP/install.log"; fail "npm install hit ERESOLVE in examples/$example"; }
  # The only warning allowed: @apollo/server's own dependency @whatwg-node/promise-helpers 2
  # wants Node >= 22.15 (EBADENGINE on Node 20; harmless, see README), and npm's notice about
  # install scripts it did not run.
  warnings=$(grep -E '^npm warn' "$APP/install.log" | grep -vE '^npm warn (install-scripts|EBADENGINE)' || true)
  # graphql-yoga 5.24's own @graphql-tools/executor 2.1 depends on @whatwg-node/disposablestack
  # 0.1, which says the same (installing graphql-yoga alone prints it; Yoga runs on Node 20).
  engines=$(grep -oE "^npm warn EBADENGINE +package: '[^']+'" "$APP/install.log" | grep -vE "'@whatwg-node/(promise-helpers@2|disposablestack@0\.1)\.[0-9.]+'$" || true)
  [ -z "$warnings$engines" ] || { cat "$APP/install.log"; fail "npm install printed warnings beyond @apollo/server's own in examples/$example:
$warnings$engines"; }
  installed=$(cd "$APP" && node -p "require('graphql-session-controller/package.json').version")
  echo "installed graphql-session-controller $installed"
  # CommonJS callers load the ESM-only package through require(esm) (Node ^20.19 || >=22.12).
  (cd "$APP" && node -e "const m = require('graphql-session-controller'); if (typeof m.SessionController !== 'function' || typeof m.requireSession !== 'function') process.exit(1)") ||
    fail "require('graphql-session-controller') from CommonJS failed in examples/$example"

  echo "-- [${SECONDS}s] tsc (strict, NodeNext, no skipLibCheck): type-check and build"
  (cd "$APP" && npx --no-install tsc) || fail "examples/$example does not type-check against the installed package"

  echo "-- [${SECONDS}s] start on the embedded database"
  PORT=$(free_port)
  (cd "$APP" && exec env -u DATABASE_URL PORT="$PORT" node dist/server.js) >"$APP/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 240); do
    grep -q 'ready at' "$APP/server.log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$APP/server.log"; fail "examples/$example exited before it was ready"; }
    sleep 0.5
  done
  grep -q 'ready at' "$APP/server.log" || { cat "$APP/server.log"; fail "examples/$example was not ready within 120 s"; }

  echo "-- [${SECONDS}s] drive it with graphql-request"
  case "$example" in
    schema-first-express) style=schema-first ;;
    yoga) style=yoga ;;
    *) style=type-graphql ;;
  esac
  npx --no-install tsx "$ROOT/scripts/check-package/drive.ts" "http://127.0.0.1:$PORT/graphql" "$style" || {
    cat "$APP/server.log"
    fail "examples/$example did not behave as documented"
  }

  kill -TERM "$SERVER_PID"
  status=0
  wait "$SERVER_PID" || status=$?
  SERVER_PID=
  [ "$status" = 0 ] || { cat "$APP/server.log"; fail "examples/$example did not shut down cleanly on SIGTERM (exit $status)"; }
done

echo
echo "check-package: OK in ${SECONDS}s ($(basename "$TARBALL"): file list, and every example installed, type-checked and driven)"
