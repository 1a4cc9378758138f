#!/bin/sh
# Build the SO_BINDTODEVICE addon (native/bind_to_device.c) at install time.
# Optional: without a C compiler the service still runs, but refuses to bind
# DHCP to an interface (and so refuses full DHCP on a multi-homed host).
cd "$(dirname "$0")/.." || exit 0
mkdir -p build
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "netrestore: no C compiler ($CC): DHCP cannot bind to an interface; install gcc and run 'npm rebuild netrestore'" >&2
  exit 0
fi
if "$CC" -shared -fPIC -O2 -Wall -o build/bind_to_device.node native/bind_to_device.c; then
  :
else
  echo "netrestore: building native/bind_to_device.c failed: DHCP cannot bind to an interface" >&2
fi
exit 0
