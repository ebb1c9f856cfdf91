#!/bin/sh
# Writes a busybox root filesystem tar to $1, made from the host's static
# busybox (Debian's busybox-static): there is no Docker Hub here to pull from.
# /etc/localtime matters: without it Debian's static busybox `wget` crashes.
set -eu
out=$1
busybox=${BUSYBOX:-/bin/busybox}
root=$(mktemp -d)
chmod 755 "$root"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/root" "$root/home" \
  "$root/var/spool/mail" "$root/var/www" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done
cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
P
cat >"$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:8:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
G
if [ -f /usr/share/zoneinfo/UTC ]; then cp /usr/share/zoneinfo/UTC "$root/etc/localtime"
else printf 'TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >"$root/etc/localtime"; fi
# Fixed timestamps make the tar, and so the image ID, the same on every machine.
find "$root" -exec touch -h -d '2026-01-01 00:00:00 UTC' {} +
tar --numeric-owner --owner=0 --group=0 --sort=name -C "$root" -cf "$out" .
