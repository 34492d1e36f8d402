// Package vm is what the project's VM tests share: Debian's kernel fetched
// and prepared with the modules a VM needs (PrepareKernel, cached), initramfs
// archives (Archive), qemu under TCG (Boot) and the "CASE <name> PASS|FAIL"
// lines a VM prints (ParseResults, Check). The WiFi VM (wifivm) and the
// fresh-system VM (freshvm) build on it; docs/notes/wifi-lab.md and
// docs/notes/fresh-vm.md hold the facts behind the recipe.
package vm
