#!/usr/bin/env bash
# Reproduces the shipped model(s) under models/<task>/: collects each task's
# training data with `jepa collect` (training seeds only) into data/, then
# trains with `jepa train` and the task's config in config/train/. Usage:
#   bash scripts/train-models.sh [two-rooms|two-rooms-high|pick-place|reach|push-t|push-t-state|pick-place-monitor|pick-place-pixels|reach-state|reach-pixels|reach-joints ...]
# (default: two-rooms, two-rooms-high, pick-place, pick-place-monitor, pick-place-pixels, reach, reach-state and
# push-t, the ones shipped; two-rooms-high trains over models/two-rooms' encoder, so it follows
# two-rooms; reach-pixels and reach-joints rerun the recorded attempts of models/README.md,
# push-t-state the state-vector push-t model shipped before the pixel one, all into runs/ only;
# pick-place-pixels is pick-place's pixel planner model (32-px frames, the joints passed through the latent);
# reach-state is the state-vector reach model a ROS 2 or replayed arm runs on, which reports
# joints and no frames; pick-place-monitor is the pixel model pick-place's surprise monitor runs)
# The output replaces models/<task>/ only when training finished; the
# optimizer state and train-state.json stay in runs/<task>/ for resuming.
set -euo pipefail
cd "$(dirname "$0")/.."
jepa() { node bin/jepa.js "$@"; }

collect_two_rooms() {
  jepa collect --task two-rooms --episodes 120 --policy random --seed 0 --out data/two-rooms-random
  jepa collect --task two-rooms --episodes 300 --policy scripted --seed 1000 --out data/two-rooms-scripted
  echo data/two-rooms-random,data/two-rooms-scripted
}
collect_reach() {
  # Front-camera frames at 64 px, with the cube's and the bin's positions beside them (--objects): the
  # proprio head is trained to read the cube out of the frame, so the latent carries it (surprise needs that).
  jepa collect --task reach --episodes 150 --policy random --seed 0 --objects --out data/reach-objects-random
  jepa collect --task reach --episodes 300 --policy scripted --seed 5000 --objects --out data/reach-objects-scripted
  echo data/reach-objects-random,data/reach-objects-scripted
}
collect_reach_state() {
  # A state-vector JEPA of the arm (joint positions in): the frames are not used, so they are kept small.
  jepa collect --task reach --episodes 150 --policy random --seed 0 --image-size 16 --out data/reach-state-random
  jepa collect --task reach --episodes 300 --policy scripted --seed 5000 --image-size 16 --out data/reach-state-scripted
  echo data/reach-state-random,data/reach-state-scripted
}
collect_reach_pixels() {
  jepa collect --task reach --episodes 300 --policy random --seed 0 --out data/reach-random
  jepa collect --task reach --episodes 800 --policy scripted --seed 5000 --out data/reach-scripted
  echo data/reach-random,data/reach-scripted
}
collect_reach_joints() {
  # Front-camera frames at 64 px; the encoder also takes the joints (proprio planes).
  jepa collect --task reach --episodes 150 --policy random --seed 0 --out data/reach-joints-random
  jepa collect --task reach --episodes 300 --policy scripted --seed 5000 --out data/reach-joints-scripted
  echo data/reach-joints-random,data/reach-joints-scripted
}
collect_pick_place_monitor() {
  # Front-camera frames at 64 px, with the cube's and the bin's positions beside them (--objects): the
  # proprio head is trained to read them out of the frame, so the latent carries the objects.
  jepa collect --task pick-place --episodes 150 --policy random --seed 0 --objects --out data/pick-place-objects-random
  jepa collect --task pick-place --episodes 150 --policy scripted --seed 3000 --objects --out data/pick-place-objects-scripted
  echo data/pick-place-objects-random,data/pick-place-objects-scripted
}
collect_pick_place_pixels() {
  # Front-camera frames at 32 px with the objects' positions, rendered at 192 px (the frame
  # pick-place's perception reads) and scaled down as the runtime scales it to the model's input.
  jepa collect --task pick-place --episodes 150 --policy random --seed 0 --objects --image-size 32 --render-size 192 --out data/pick-place-objects32r-random
  jepa collect --task pick-place --episodes 150 --policy scripted --seed 3000 --objects --image-size 32 --render-size 192 --out data/pick-place-objects32r-scripted
  echo data/pick-place-objects32r-random,data/pick-place-objects32r-scripted
}
collect_pick_place() {
  # A state-vector JEPA of the arm (joint positions in): the frames are not used, so they are kept small.
  jepa collect --task pick-place --episodes 150 --policy random --seed 0 --image-size 16 --out data/pick-place-random
  jepa collect --task pick-place --episodes 150 --policy scripted --seed 3000 --image-size 16 --out data/pick-place-scripted
  echo data/pick-place-random,data/pick-place-scripted
}
collect_push_t_state() {
  # A state-vector JEPA of the pusher (its two joint positions in): the frames are not used, so they are kept small.
  jepa collect --task push-t --episodes 150 --policy random --seed 0 --image-size 16 --out data/push-t-state-random
  jepa collect --task push-t --episodes 200 --policy scripted --seed 2000 --image-size 16 --out data/push-t-state-scripted
  echo data/push-t-state-random,data/push-t-state-scripted
}
collect_push_t() {
  # Top-camera frames at the model's 64 px (at run time the 128-px frame perception reads is scaled to 64).
  jepa collect --task push-t --episodes 80 --policy random --seed 0 --out data/push-t-random
  jepa collect --task push-t --episodes 100 --policy scripted --seed 2000 --out data/push-t-scripted
  echo data/push-t-random,data/push-t-scripted
}

tasks=("$@")
[ ${#tasks[@]} -eq 0 ] && tasks=(two-rooms two-rooms-high pick-place pick-place-monitor pick-place-pixels reach reach-state push-t)
for task in "${tasks[@]}"; do
  case "$task" in
    two-rooms | two-rooms-high) data=$(collect_two_rooms | tail -n 1) ;;
    pick-place) data=$(collect_pick_place | tail -n 1) ;;
    pick-place-monitor) data=$(collect_pick_place_monitor | tail -n 1) ;;
    pick-place-pixels) data=$(collect_pick_place_pixels | tail -n 1) ;;
    reach) data=$(collect_reach | tail -n 1) ;;
    reach-state) data=$(collect_reach_state | tail -n 1) ;;
    reach-pixels) data=$(collect_reach_pixels | tail -n 1) ;;
    reach-joints) data=$(collect_reach_joints | tail -n 1) ;;
    push-t) data=$(collect_push_t | tail -n 1) ;;
    push-t-state) data=$(collect_push_t_state | tail -n 1) ;;
    *) echo "train-models.sh: no recipe for '$task' (have: two-rooms, two-rooms-high, pick-place, reach, push-t, push-t-state, pick-place-monitor, pick-place-pixels, reach-state, reach-pixels, reach-joints)" >&2; exit 2 ;;
  esac
  jepa train --data "$data" --config "config/train/$task.json" --out "runs/$task"
  if [ "$task" = reach-pixels ] || [ "$task" = reach-joints ] || [ "$task" = push-t-state ]; then
    echo "runs/$task holds the $task model; not installed in models/ (models/README.md says why)"
    continue
  fi
  mkdir -p "models/$task.new"
  cp "runs/$task/config.json" "runs/$task/model.safetensors" "runs/$task/metrics.jsonl" "models/$task.new/"
  rm -rf "models/$task" && mv "models/$task.new" "models/$task"
  echo "models/$task updated"
done
