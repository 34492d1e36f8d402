package device

// The factory reset's files and service (internal/reset; rendered by
// internal/provision).
const (
	// UnitReset runs `devmgr reset --resume`: at boot it finishes a reset
	// that a reboot or a crash interrupted (and the root mode's, whose
	// wipe the early-boot step did).
	UnitReset = "devmgr-reset.service"
	// InitramfsHook and InitramfsScript are the root mode's early-boot
	// step for initramfs-tools: the script runs in local-bottom, after
	// the root device is mounted and before overlayroot (init-bottom)
	// mounts the overlay.
	InitramfsHook   = "/etc/initramfs-tools/hooks/devmgr-reset"
	InitramfsScript = "/etc/initramfs-tools/scripts/local-bottom/devmgr-reset"
	// ResetDirName is the reset's directory on the root mode's persistent
	// layer, beside the upper layer (never inside it): its journal, the
	// kept settings and the early-boot step's marker files.
	ResetDirName = "devmgr-reset"
	// ResetRequest is the marker a root-mode reset leaves before the
	// reboot: while it is there, the early-boot step empties the upper and
	// work directories, then writes ResetWiped (or ResetRefused, saying
	// why not) and removes it.
	ResetRequest = "request"
	ResetWiped   = "wiped"
	ResetRefused = "refused"
)
