#!/usr/bin/env bash
# Serve STAC test data on 127.0.0.1 in the foreground (the tests and benchmarks/stac.py
# start and stop it; Ctrl-C or SIGTERM stops it by hand).
#
#   scripts/serve_stac.sh files FOLDER PORT LOG_FOLDER
#       nginx (Debian's nginx package, `make deps`) serving FOLDER read-only, with HTTP
#       range requests, as a non-daemon with a throwaway configuration in LOG_FOLDER;
#       LOG_FOLDER/access.log gets one line per request:
#       "<method> <uri> <status> <body bytes sent> <Range header or ->".
#   scripts/serve_stac.sh api PORT HREF...
#       a STAC API (rustac's server, `pip install rustac`, scripts/requirements-dev.txt)
#       holding the collections and items HREF..., in memory.
set -euo pipefail

mode=${1:-}
case "$mode" in
files)
    [ $# -eq 4 ] || { echo "usage: $0 files FOLDER PORT LOG_FOLDER" >&2; exit 2; }
    folder=$(cd "$2" && pwd)
    port=$3
    logs=$(mkdir -p "$4" && cd "$4" && pwd)
    nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
    [ -x "$nginx" ] || { echo "$0: nginx not found (make deps installs it)" >&2; exit 3; }
    # As root, nginx's workers would run as nobody, who cannot read a private temp folder.
    user_line=""
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    mkdir -p "$logs/temp"
    cat > "$logs/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $logs/nginx.pid;
error_log $logs/error.log warn;
events { worker_connections 256; }
http {
    types { application/json json; image/tiff tif tiff; }
    default_type application/octet-stream;
    log_format coreg '\$request_method \$uri \$status \$body_bytes_sent \$http_range';
    access_log $logs/access.log coreg;
    client_body_temp_path $logs/temp/body;
    proxy_temp_path $logs/temp/proxy;
    fastcgi_temp_path $logs/temp/fastcgi;
    uwsgi_temp_path $logs/temp/uwsgi;
    scgi_temp_path $logs/temp/scgi;
    sendfile on;
    keepalive_timeout 30;
    server {
        listen 127.0.0.1:$port;
        root $folder;
        location / { limit_except GET HEAD { deny all; } }
    }
}
CONF
    exec "$nginx" -p "$logs" -c "$logs/nginx.conf" -g "daemon off;"
    ;;
api)
    [ $# -ge 3 ] || { echo "usage: $0 api PORT HREF..." >&2; exit 2; }
    port=$2
    shift 2
    rustac=${RUSTAC:-$(command -v rustac || true)}
    if [ -z "$rustac" ]; then
        here=$(cd "$(dirname "$0")/.." && pwd)
        rustac="$here/.venv/bin/rustac"
    fi
    [ -x "$rustac" ] || { echo "$0: rustac not found (make venv installs it)" >&2; exit 3; }
    exec "$rustac" serve --addr "127.0.0.1:$port" "$@"
    ;;
*)
    echo "usage: $0 files FOLDER PORT LOG_FOLDER | api PORT HREF..." >&2
    exit 2
    ;;
esac
