#!/usr/bin/env bash
# dev.sh — `make dev`: devcloud, a provisioned thing and the nucleus with the
# sample components connected to it, in one command; Ctrl-C stops everything.
#
# `make dev` builds what this uses first (bin/sward, the sample artifacts,
# bin/devcloud, the Lambdas for this host and the synthesized template).
# It then runs, from the repository root:
#
#   1. bin/devcloud up --template cdk.out/SwardCloud.template.json --data .devcloud --lambdas dist/lambdas
#   2. bin/sward provision --thing-name $SWARD_DEV_THING --force … --out .devcloud/$SWARD_DEV_THING
#      with devcloud.json's endpoints.iot, CA and credentials (the thing joins
#      the stack's thing group; a re-run keeps the thing and gives it a new
#      certificate, so it works whether devcloud remembered it or not)
#   3. bin/sward run --config .devcloud/$SWARD_DEV_THING/config.yaml --root .run/dev
#      with AWS_ENDPOINT_URL_S3 set to devcloud's S3 (endpoints.s3), and no
#      --recipes: the device gets its components the way a fleet does, from
#      the thing group's jobs (step 4), and downloads their artifacts from
#      devcloud's S3 with the token exchange credentials. The root is kept
#      while devcloud keeps its data (the device remembers what the jobs it
#      already took deployed, as devcloud remembers the jobs); it starts
#      empty when the data folder is new or the root was not made by this
#      script (the marker .made-by-make-dev).
#
#   4. in a git repository, watch it: the commit checked out at the start,
#      and then each new commit that touches recipes/, is published to
#      devcloud: $SWARD_DEV_BUILD (default `make artifacts`), then
#      bin/sward publish --stack SwardCloud --allow-dirty (the working tree as
#      it is, under the commit's id), then bin/sward release status --wait 30s
#      until the release Lambda has recorded the release (IN_PROGRESS: the
#      job exists; REJECTED: every reason). Each step is a `dev: publish:`
#      line. Then the job is followed until the device's execution ends, each
#      change a `dev: job:` line (the execution's status in IoT Jobs: QUEUED,
#      IN_PROGRESS, SUCCEEDED or FAILED) or a `dev: device:` line (the
#      deployment's state on the device, and each component that changed:
#      version and state, RUNNING when it runs, or removed), with the seconds
#      since the watcher saw the commit.
#
# Arguments are passed on to `sward run` (such as --nats-listen 127.0.0.1:0
# beside another nucleus). Environment: SWARD_DEV_THING (default dev1), SWARD_DEV_DATA (default
# .devcloud), SWARD_DEV_ROOT (default .run/dev), SWARD_DEV_BUILD (default
# `make artifacts`). Against real AWS the same provision, run and publish
# commands apply with AWS's endpoints (README.md).
set -euo pipefail

cd "$(dirname "$0")/../.."
repo=$PWD
thing=${SWARD_DEV_THING:-dev1}
data=${SWARD_DEV_DATA:-.devcloud}
root=${SWARD_DEV_ROOT:-.run/dev}
template=cdk.out/SwardCloud.template.json
device=$data/$thing

say() { printf 'dev: %s\n' "$*"; }

for f in bin/sward bin/devcloud "$template"; do
	if [[ ! -e $f ]]; then
		say "$f is missing: run \`make dev\` (it builds bin/sward, bin/devcloud and $template first)" >&2
		exit 2
	fi
done

# field prints one field of devcloud.json, a dotted path such as endpoints.iot.
field() {
	python3 - "$data/devcloud.json" "$1" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)
EOF
}

devcloud_pid=
nucleus_pid=
cleanup() {
	trap - INT TERM EXIT
	if [[ -n $nucleus_pid ]] && kill -0 "$nucleus_pid" 2>/dev/null; then
		say "stopping the nucleus (pid $nucleus_pid)"
		kill -TERM "$nucleus_pid" 2>/dev/null || true
		wait "$nucleus_pid" 2>/dev/null || true
	fi
	if [[ -n $devcloud_pid ]] && kill -0 "$devcloud_pid" 2>/dev/null; then
		say "stopping devcloud (pid $devcloud_pid)"
		kill -TERM "$devcloud_pid" 2>/dev/null || true
		wait "$devcloud_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$data"
if [[ -e $data/devcloud.json ]]; then
	old=$(field pid 2>/dev/null || true)
	if [[ -n $old ]] && kill -0 "$old" 2>/dev/null; then
		say "a devcloud (pid $old) already runs with $data: stop it first (Ctrl-C where it runs, or kill $old)" >&2
		exit 1
	fi
fi

# fresh: devcloud starts from nothing (no recording to replay), so the
# device's root starts empty too.
fresh=0
[[ -e $data/moto-recording.jsonl ]] || fresh=1

# --lambdas absolute, so the output names the folder wherever it is read.
say "1/4 devcloud: bin/devcloud up --template $template --data $data --lambdas $repo/dist/lambdas (log: $data/devcloud-up.out)"
bin/devcloud up --template "$template" --data "$data" --lambdas "$repo/dist/lambdas" >"$data/devcloud-up.out" 2>&1 &
devcloud_pid=$!
for ((i = 0; ; i++)); do
	if ! kill -0 "$devcloud_pid" 2>/dev/null; then
		devcloud_pid=
		say "devcloud up exited before it was ready; it said:" >&2
		cat "$data/devcloud-up.out" >&2
		exit 1
	fi
	if [[ -e $data/devcloud.json ]] && [[ $(field pid 2>/dev/null || true) == "$devcloud_pid" ]]; then
		break
	fi
	if ((i >= 1800)); then # 180 s: moto_server's start and its replay on a loaded machine
		say "devcloud was not ready after 180 s; see $data/devcloud-up.out and $data/devcloud.log" >&2
		exit 1
	fi
	sleep 0.1
done
say "devcloud ready (pid $devcloud_pid): control plane $(field endpoints.iot), IoT data $(field endpoints.iotData)"

say "2/4 provision: bin/sward provision --thing-name $thing --force --out $device"
AWS_ACCESS_KEY_ID=$(field credentials.accessKeyId) \
	AWS_SECRET_ACCESS_KEY=$(field credentials.secretAccessKey) \
	AWS_ENDPOINT_URL= AWS_PROFILE= AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
	bin/sward provision --thing-name "$thing" --region "$(field region)" \
	--endpoint-url "$(field endpoints.iot)" --root-ca "$data/ca/ca.pem" --out "$device" --force

# A new devcloud has no jobs, so what they deployed goes too; a root this
# script did not make (an older make dev's, which deployed recipes/ from
# the folder) is not kept either.
if [[ $fresh == 1 || ! -e $root/.made-by-make-dev ]]; then
	rm -rf "$root"
fi
mkdir -p "$root"
touch "$root/.made-by-make-dev"
say "3/4 nucleus: bin/sward run --config $device/config.yaml --root $root $* (its components come from the thing group's jobs)"
say "look at:"
say "  bin/sward cloud status --root $repo/$root        the IoT Core link (connected, spool)"
say "  bin/sward component list --root $repo/$root      the sample components"
say "  bin/devcloud status --data $data                 what devcloud sees"
say "  $data/requests.log                               each rule fired and Lambda invoked (the telemetry archive)"
say "  $root/work/com.sward.samples.AlertRecorder/alerts.jsonl   the cloud's alerts back on the device"
say "Ctrl-C stops the nucleus and devcloud"
# The device's S3 is devcloud's; its credentials are the token exchange
# service's (the role alias), as on a device in the field.
AWS_ENDPOINT_URL_S3=$(field endpoints.s3) \
	bin/sward run --config "$device/config.yaml" --root "$repo/$root" "$@" &
nucleus_pid=$!

# cloud runs a sward command against devcloud with its credentials; its S3
# endpoint delivers the bucket's notifications (the release Lambda). The
# fields are read once: follow runs it four times a second.
cloud_env=(
	AWS_ACCESS_KEY_ID="$(field credentials.accessKeyId)"
	AWS_SECRET_ACCESS_KEY="$(field credentials.secretAccessKey)" AWS_REGION="$(field region)"
	AWS_ENDPOINT_URL="$(field endpoints.aws)" AWS_ENDPOINT_URL_S3="$(field endpoints.s3)"
	AWS_ENDPOINT_URL_IOT="$(field endpoints.iot)"
	AWS_PROFILE= AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
)
cloud() { env "${cloud_env[@]}" bin/sward "$@"; }

# elapsed prints the seconds since $1 (date +%s.%N).
elapsed() { awk -v since="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "+%.1f s", now - since }'; }

# components prints the device's components, one "NAME VERSION STATE" a line.
# It fails when the nucleus does not answer.
components() {
	local out
	out=$(bin/sward component list --root "$repo/$root" 2>/dev/null) || return 1
	awk 'NR > 1 { print $1, $2, $3 }' <<<"$out"
}

# component_changes shows each component that changed since follow's
# last_comp (follow's locals, in scope when follow calls it); a failed
# read changes nothing.
component_changes() {
	local list name version state
	local -A now_comp=()
	list=$(components) || return 0
	while read -r name version state; do
		[[ -n $name ]] || continue
		now_comp[$name]=1
		if [[ ${last_comp[$name]:-} != "$version $state" ]]; then
			say "device:   $name $version $state ($(elapsed "$seen"))"
			last_comp[$name]="$version $state"
		fi
	done <<<"$list"
	for name in "${!last_comp[@]}"; do
		if [[ -z ${now_comp[$name]:-} ]]; then
			say "device:   $name removed ($(elapsed "$seen"))"
			unset "last_comp[$name]"
		fi
	done
}

# follow shows job $1 (commit $2, seen at $3) reaching the device until
# the device's execution ends: each change of the execution's status in
# IoT Jobs, of the deployment's state on the device and of each component
# (from $4, the components before the commit). 120 s: a cold Lambda and a
# few MB of artifacts on a loaded machine; the job goes on after that,
# `sward release status` shows it.
follow() {
	local job=$1 commit=$2 seen=$3 exec_status= last_exec= last_state= ended= out line name version state i
	local -A last_comp=()
	while read -r name version state; do
		[[ -n $name ]] && last_comp[$name]="$version $state"
	done <<<"$4"
	for ((i = 0; i < 480; i++)); do
		kill -0 "$nucleus_pid" 2>/dev/null || return 0 # the nucleus exited: the script ends
		if [[ -z $ended ]]; then
			out=$(cloud release status "$commit" 2>/dev/null || true)
			exec_status=$(awk -v t="$thing" '/^  / && $1 == t { print $2 }' <<<"$out")
			if [[ -n $exec_status && $exec_status != "$last_exec" ]]; then
				say "job: $job: $thing $exec_status ($(elapsed "$seen"))"
				last_exec=$exec_status
			fi
			case $exec_status in
			SUCCEEDED | FAILED | REJECTED | CANCELED | TIMED_OUT | REMOVED) ended=$i ;;
			esac
		fi
		if out=$(bin/sward deployment status "$job" --root "$repo/$root" 2>/dev/null); then
			line=$(awk '$1 == "State:" { print $2 }' <<<"$out")
			if [[ -n $line && $line != "$last_state" ]]; then
				say "device: deployment $job $line ($(elapsed "$seen"))"
				last_state=$line
			fi
		fi
		component_changes
		# Once the execution ended, the device's deployment has ended too
		# (the device reports after it); a few more reads (4 s) cover a
		# `sward deployment status` that failed under load.
		if [[ -n $ended ]]; then
			case $last_state in
			SUCCEEDED | FAILED | ROLLED_BACK | CANCELED | SUPERSEDED) ;;
			*)
				if ((i - ended < 16)); then
					sleep 0.25
					continue
				fi
				;;
			esac
			component_changes # the components as the deployment left them
			cloud release status "$commit" 2>&1 | sed 's/^/dev: job: /' || true
			return 0
		fi
		sleep 0.25
	done
	say "job: $job: $thing still ${exec_status:-without an execution} after 120 s; follow it with: bin/sward release status $commit" >&2
}

# publish releases commit $1 to devcloud, follows the release Lambda, then
# the job to the device.
publish() {
	local commit=$1 seen out job status before
	seen=$(date +%s.%N)
	before=$(components || true)
	say "publish: commit $commit: building the artifacts (${SWARD_DEV_BUILD:-make artifacts}; log $data/publish-build.out)"
	if ! bash -c "${SWARD_DEV_BUILD:-make artifacts}" >"$data/publish-build.out" 2>&1; then
		say "publish: the build failed; see $data/publish-build.out" >&2
		return 0
	fi
	if ! out=$(cloud publish --stack SwardCloud --recipes recipes --artifacts build/artifacts --allow-dirty 2>&1); then
		printf '%s\n' "$out" | sed 's/^/dev: publish: /' >&2
		return 0
	fi
	printf '%s\n' "$out" | sed 's/^/dev: publish: /'
	if [[ $out != *"published commit"* ]]; then
		return 0 # nothing changed since the last release
	fi
	# 30 s: the release Lambda's cold start on a loaded machine.
	if ! status=$(cloud release status "$commit" --wait 30s 2>&1); then
		printf '%s\n' "$status" | sed 's/^/dev: publish: /' >&2
		return 0 # rejected (every reason printed) or not recorded in time
	fi
	printf '%s\n' "$status" | sed 's/^/dev: publish: /'
	job=$(grep -o 'job sward-[0-9a-f]*' <<<"$out" | head -n 1)
	follow "${job#job }" "$commit" "$seen" "$before"
}

if head=$(git rev-parse --verify --quiet HEAD 2>/dev/null); then
	say "4/4 watching $repo: each commit touching recipes/ is published to devcloud"
	publish "$head"
	while kill -0 "$nucleus_pid" 2>/dev/null; do
		sleep 1
		now=$(git rev-parse --verify --quiet HEAD 2>/dev/null) || continue
		if [[ $now != "$head" ]]; then
			if ! git diff --quiet "$head" "$now" -- recipes 2>/dev/null; then
				publish "$now"
			fi
			head=$now
		fi
	done
else
	say "4/4 $repo is not a git repository: commits are not published"
fi
set +e
wait "$nucleus_pid"
rc=$?
set -e
nucleus_pid=
say "the nucleus exited ($rc)"
exit "$rc"
