#!/usr/bin/env bash
# Make sure the programs alexandria-backup drives (and its tests and demo
# need) are installed. Run by `make test` and `make demo` before anything
# else. Silent apart from one line when everything is present; as root on
# Debian/Ubuntu it installs what is missing with apt-get, otherwise it
# prints the command to run and exits 1.
set -euo pipefail

# tool -> Debian package providing it. "go" has no package here: Debian's
# golang-go is far older than the Go this module needs.
#
# `deps.sh demo` asks only for what the demo runs; `deps.sh` (make test)
# also for what the tests alone need: sshd and ssh (remote repositories),
# systemd-analyze and PyYAML (generated units and manifests), Chromium
# (the status page, rendered).
tools=(go pg_dump pg_restore initdb postgres restic borg rsync rclone)
if [[ ${1:-test} != demo ]]; then
	tools+=(ssh sshd systemd-analyze python3-yaml chromium)
fi
declare -A package_of=(
	[pg_dump]=postgresql
	[pg_restore]=postgresql
	[initdb]=postgresql
	[postgres]=postgresql
	[restic]=restic
	[borg]=borgbackup
	[rsync]=rsync
	[rclone]=rclone
	[ssh]=openssh-client
	[sshd]=openssh-server
	[systemd-analyze]=systemd
	[python3-yaml]=python3-yaml
	# The tests render `status --html`'s page in headless Chromium.
	[chromium]=chromium
)

# have TOOL: is TOOL usable? Beyond PATH, look where Debian keeps programs
# that are not on an ordinary user's PATH.
have() {
	local tool=$1 candidate
	case $tool in
	pg_dump | pg_restore)
		# On Debian these are pg_wrapper links that exist (from
		# postgresql-client-common) even when no client version is
		# installed, so ask them for their version.
		"$tool" --version >/dev/null 2>&1
		return
		;;
	initdb | postgres)
		# Debian keeps the server binaries out of PATH.
		command -v "$tool" >/dev/null 2>&1 && return 0
		for candidate in /usr/lib/postgresql/*/bin/"$tool"; do
			[[ -x $candidate ]] && return 0
		done
		return 1
		;;
	sshd)
		command -v sshd >/dev/null 2>&1 || [[ -x /usr/sbin/sshd ]]
		return
		;;
	python3-yaml)
		# The tests parse the generated Kubernetes manifests with PyYAML.
		python3 -c 'import yaml' >/dev/null 2>&1
		return
		;;
	*)
		command -v "$tool" >/dev/null 2>&1
		return
		;;
	esac
}

# missing_tools: print the tools that are not usable, one per line.
missing_tools() {
	local tool
	for tool in "${tools[@]}"; do
		have "$tool" || printf '%s\n' "$tool"
	done
}

# packages_for TOOL...: print the packages providing TOOLs, each once, in
# order.
packages_for() {
	local tool pkg
	local -A seen=()
	for tool in "$@"; do
		pkg=${package_of[$tool]:-}
		if [[ -n $pkg && -z ${seen[$pkg]:-} ]]; then
			seen[$pkg]=1
			printf '%s\n' "$pkg"
		fi
	done
}

go_hint() {
	echo "deps: go is not installed; install the Go toolchain named in go.mod (Debian's golang-go is too old)" >&2
}

mapfile -t missing < <(missing_tools)
if ((${#missing[@]} == 0)); then
	echo "deps: all tools present"
	exit 0
fi

mapfile -t packages < <(packages_for "${missing[@]}")
need_go=false
for tool in "${missing[@]}"; do
	[[ $tool == go ]] && need_go=true
done

if ((${#packages[@]} > 0)); then
	echo "deps: missing: ${missing[*]}" >&2
	if ((EUID != 0)); then
		echo "deps: install them with:" >&2
		echo "sudo apt-get install ${packages[*]}"
		if $need_go; then go_hint; fi
		exit 1
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "deps: no apt-get on this system; install the equivalents of: ${packages[*]}" >&2
		exit 1
	fi
	echo "deps: installing: ${packages[*]}" >&2
	# Installing postgresql may create and start a default cluster on
	# port 5432; harmless, the tests and the demo run their own servers.
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

# Check again: a package may have installed but not provided the tool.
mapfile -t missing < <(missing_tools)
if ((${#missing[@]} > 0)); then
	echo "deps: still missing: ${missing[*]}" >&2
	if $need_go; then go_hint; fi
	exit 1
fi
echo "deps: all tools present"
