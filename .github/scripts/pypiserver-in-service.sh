#!/usr/bin/env bash
# Start an authenticated pypiserver inside a job's `pypiserver` service container (the official
# pypiserver/pypiserver image) and wait until it answers.
#
# Why not the service's own server: service containers take no command arguments (actions/runner#2139), and the
# image's default command runs `pypi-server run` with no password file, which refuses every upload. So the service
# provides the image, the job network (where a Docker action reaches it as `pypiserver`) and the port mapping, and
# this runs the real server in it: uploads need the htpasswd user, reads are anonymous, no fallback to PyPI.
#
# Usage: pypiserver-in-service.sh CONTAINER_ID [PORT]   with PYPI_USERNAME and PYPI_PASSWORD in the environment.
# The port (8081 by default) must be mapped to the same port on the host in the service's `ports`.
set -euo pipefail

container="${1:?usage: pypiserver-in-service.sh CONTAINER_ID [PORT]}"
port="${2:-8081}"
: "${PYPI_USERNAME:?set PYPI_USERNAME}" "${PYPI_PASSWORD:?set PYPI_PASSWORD}"

# The image ships passlib (pypiserver's htpasswd support): the password never appears on a command line.
docker exec -e PYPI_USERNAME -e PYPI_PASSWORD "$container" python -c '
import os
from passlib.apache import HtpasswdFile
htpasswd = HtpasswdFile("/data/htpasswd", new=True)
htpasswd.set_password(os.environ["PYPI_USERNAME"], os.environ["PYPI_PASSWORD"])
htpasswd.save()
os.chmod("/data/htpasswd", 0o644)
'
docker exec --detach --user pypiserver "$container" sh -c \
    "exec pypi-server run -p $port -P /data/htpasswd -a update --disable-fallback /data/packages > /data/pypiserver-$port.log 2>&1"

for _ in $(seq 150); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        echo "pypiserver answers on port $port (inside service container $container)"
        exit 0
    fi
    sleep 0.2
done
echo "::error::pypiserver did not answer on port $port"
docker exec "$container" cat "/data/pypiserver-$port.log" || true
exit 1
