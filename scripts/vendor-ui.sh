#!/usr/bin/env bash
# Vendor the browser ESM build of Vue 3 into magec/ui/vendor/.
# The Admin UI has no build step: index.html loads these files through an importmap.
# Re-run this script (and commit the result) to bump the pinned version.
set -euo pipefail

VUE_VERSION="${VUE_VERSION:-3.5.45}"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/magec/ui/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

cd "$TMP"
npm pack --silent "vue@${VUE_VERSION}" >/dev/null
tar -xzf "vue-${VUE_VERSION}.tgz"

mkdir -p "$DEST"
# Full build (includes the template compiler: templates are plain strings in the ES modules).
cp package/dist/vue.esm-browser.prod.js "$DEST/vue.esm-browser.prod.js"
cp package/LICENSE "$DEST/LICENSE.vue"
echo "vue@${VUE_VERSION}" > "$DEST/VERSIONS"
echo "vendored vue@${VUE_VERSION} into $DEST"
