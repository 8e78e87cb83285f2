#!/usr/bin/env bash
# The packaging test (run by scripts/test.sh): builds the .deb, checks its contents and lintian,
# then installs it on this machine, exercises the installed tool, upgrades it, and purges it.
# Needs root (dpkg); leaves the machine as it found it, except for /usr/local/lib/carbonio-mesh
# when that existed before (a site's plugins are never touched).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages lintian man-db bash-completion dpkg-dev
fail() { echo "package test: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (it installs and purges the package)"
if dpkg-query -W -f='${Status}' carbonio-mesh 2>/dev/null | grep -q 'ok installed'; then
    fail "carbonio-mesh is already installed on this machine: purge it first (apt-get purge carbonio-mesh)"
fi

deb=$(scripts/build-deb.sh | tail -n1)
echo "== built $deb"

echo "== contents"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
expect() { grep -qx "$1" <<<"$contents" || fail "$deb lacks $1"; }
expect ./usr/bin/carbonio-mesh
expect ./usr/lib/carbonio-mesh/config.toml
expect ./etc/carbonio-mesh/config.toml
expect ./usr/share/man/man1/carbonio-mesh.1.gz
expect ./usr/share/bash-completion/completions/carbonio-mesh
expect ./usr/share/zsh/vendor-completions/_carbonio-mesh
expect ./usr/share/fish/vendor_completions.d/carbonio-mesh.fish
expect ./usr/lib/carbonio-mesh/doctor-textfile
expect ./usr/lib/systemd/system/carbonio-mesh-doctor.service
expect ./usr/lib/systemd/system/carbonio-mesh-doctor.timer
expect ./usr/share/doc/carbonio-mesh/examples/transport-ansible.toml
for crate in plugins/*/; do
    name=$(basename "$crate")
    expect "./usr/lib/carbonio-mesh/plugins/$name.so"
    expect "./usr/share/man/man1/carbonio-mesh-$name.1.gz"
done
! grep -q '^\./usr/local' <<<"$contents" || fail "the package must not ship anything under /usr/local"
[ "$(dpkg-deb -f "$deb" Section)" = admin ] || fail "section is not admin"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/carbonio-mesh/config.toml || fail "config.toml is not a conffile"

echo "== lintian"
lintian --fail-on warning,error "$deb" 2> >(grep -v 'root privileges' >&2)

site=/usr/local/lib/carbonio-mesh/plugins
site_existed=0; [ -d "$site" ] && site_existed=1
cleanup() {
    dpkg --purge carbonio-mesh >/dev/null 2>&1 || true
    rm -f "$site/members.so"
    if [ "$site_existed" -eq 0 ]; then rmdir "$site" /usr/local/lib/carbonio-mesh 2>/dev/null || true; fi
}
trap cleanup EXIT

echo "== install"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$PWD/$deb" >/dev/null
unset CARBONIO_MESH_PLUGIN_DIR
carbonio-mesh plugins check
[ "$(stat -c %a /var/lib/carbonio-mesh)" = 700 ] || fail "/var/lib/carbonio-mesh is not 0700"
# The listing kept what probing each plugin found, root's only.
[ "$(stat -c %a /var/cache/carbonio-mesh)" = 700 ] || fail "/var/cache/carbonio-mesh is not 0700"
[ "$(stat -c %a /var/cache/carbonio-mesh/probes.json)" = 600 ] || fail "the probe cache is not 0600"
[ -d /etc/carbonio-mesh/config.d ] || fail "/etc/carbonio-mesh/config.d missing"
# The Ansible transport is an example: installing activates nothing (the plan keeps ssh).
carbonio-mesh secret plan | grep -q 'Transport.*ssh' || fail "installing changed the transport: $(carbonio-mesh secret plan | tail -3)"
# The doctor timer is shipped disabled: installing enables nothing.
! ls /etc/systemd/system/*.wants/carbonio-mesh-doctor.* >/dev/null 2>&1 || fail "the doctor timer was enabled by the install"
man -P cat carbonio-mesh 2>/dev/null | grep -q 'carbonio-mesh' || fail "man carbonio-mesh does not open"
man -P cat carbonio-mesh-force-leave 2>/dev/null | grep -q -- '--prune' || fail "man carbonio-mesh-force-leave does not open"
bash -c '. /usr/share/bash-completion/completions/carbonio-mesh && complete -p carbonio-mesh' >/dev/null \
    || fail "the bash completion does not load"
# The installed binary answers each TAB: the packaged plugins' commands.
words=$(bash -c '. /usr/share/bash-completion/completions/carbonio-mesh
    COMP_LINE="carbonio-mesh cre"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(carbonio-mesh cre); COMP_CWORD=1
    _carbonio_mesh carbonio-mesh cre carbonio-mesh; echo "${COMPREPLY[*]}"')
[ "$words" = credentials ] || fail "bash completion of 'cre' gave '$words'"
words=$(bash -c '. /usr/share/bash-completion/completions/carbonio-mesh
    COMP_LINE="carbonio-mesh catalog "; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(carbonio-mesh catalog ""); COMP_CWORD=2
    _carbonio_mesh carbonio-mesh "" catalog; echo "${COMPREPLY[*]}"')
[ "$words" = "nodes services" ] || fail "bash completion of 'catalog ' gave '$words'"

echo "== a site plugin overrides the packaged one"
install -d -m 0755 "$site"
install -m 0644 /usr/lib/carbonio-mesh/plugins/members.so "$site/members.so"
origin=$(carbonio-mesh plugins list --format json | jq -r '.[] | select(.name == "members") | .origin')
[ "$origin" = site ] || fail "members comes from '$origin', not the site directory"

echo "== an edited conffile survives reinstall and upgrade"
echo '# edited by the package test' >>/etc/carbonio-mesh/config.toml
printf '[exec]\ntimeout_secs = 42\n' >/etc/carbonio-mesh/config.d/50-test.toml
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$PWD/$deb" >/dev/null
upgrade=$(DEB_VERSION=0.1.0-2 scripts/build-deb.sh | tail -n1)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$PWD/$upgrade" >/dev/null
[ "$(dpkg-query -W -f='${Version}' carbonio-mesh)" = 0.1.0-2 ] || fail "the upgrade did not install"
grep -q 'edited by the package test' /etc/carbonio-mesh/config.toml || fail "the conffile edit was lost"
[ -f "$site/members.so" ] || fail "the upgrade removed the site plugin"
origin=$(carbonio-mesh plugins list --format json | jq -r '.[] | select(.name == "members") | .origin')
[ "$origin" = site ] || fail "after the upgrade members comes from '$origin'"
carbonio-mesh plugins check >/dev/null

echo "== purge"
rm /etc/carbonio-mesh/config.d/50-test.toml
dpkg --purge carbonio-mesh >/dev/null
for gone in /usr/bin/carbonio-mesh /usr/lib/carbonio-mesh /etc/carbonio-mesh /var/lib/carbonio-mesh /var/cache/carbonio-mesh; do
    [ ! -e "$gone" ] || fail "purge left $gone"
done
[ -f "$site/members.so" ] || fail "purge touched the site plugin directory"
rm -f "$upgrade"
echo "package test: ok"
