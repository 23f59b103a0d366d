package nucleus

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
)

// The default component user and group, like Greengrass's ggc_user and
// ggc_group: a nucleus running as root creates them on first start when
// no --run-as is given, and every step without RequiresPrivilege runs as
// them.
const (
	DefaultComponentUser  = "sward_user"
	DefaultComponentGroup = "sward_group"
)

// Folder modes of the root. Component users may traverse the root and
// work/ (to reach their own work folder) and packages/ (their artifacts)
// but list neither; everything else is the nucleus's alone.
const (
	modeTraverse = 0o711
	modePrivate  = 0o700
)

// componentIdentity decides who non-privileged steps run as for a nucleus
// running as euid, and tells the operator, in one line, when components
// run as the nucleus user (a developer's `make run`).
func (o *Options) componentIdentity(log *slog.Logger, euid int) error {
	if euid != 0 {
		log.Warn("nucleus is not root: components run as its user " + currentUser() +
			" and can read its files, the admin credential included; run it as root to run them as " + DefaultComponentUser)
		return nil
	}
	if o.RunAs != "" || o.ComponentUIDs {
		return nil
	}
	if err := ensureComponentUser(log); err != nil {
		return err
	}
	o.RunAs = DefaultComponentUser + ":" + DefaultComponentGroup
	return nil
}

// currentUser names the nucleus user for the warning.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprint(os.Geteuid())
}

// ensureComponentUser creates the default group and user when missing,
// with the system's groupadd and useradd: a system account without a home
// folder or a login shell.
func ensureComponentUser(log *slog.Logger) error {
	if _, err := user.LookupGroup(DefaultComponentGroup); err != nil {
		if err := system("groupadd", "--system", DefaultComponentGroup); err != nil {
			return fmt.Errorf("cannot create the default component group %s: %w; create it yourself or pass --run-as user:group", DefaultComponentGroup, err)
		}
		log.Info("created the default component group", "group", DefaultComponentGroup)
	}
	if _, err := user.Lookup(DefaultComponentUser); err != nil {
		if err := system("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
			"--shell", nologin(), "--gid", DefaultComponentGroup, DefaultComponentUser); err != nil {
			return fmt.Errorf("cannot create the default component user %s: %w; create it yourself or pass --run-as user:group", DefaultComponentUser, err)
		}
		log.Info("created the default component user", "user", DefaultComponentUser, "group", DefaultComponentGroup)
	}
	return nil
}

// system runs a system tool, with its output in the error.
func system(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nologin is the shell of the default user: the system's nologin, else
// /bin/false.
func nologin() string {
	for _, p := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/false"
}

// protectRoot creates the root's folders and sets their modes, also on a
// root an older nucleus created: the root, work/ and the artifact folders
// traversable only (a component reaches its own folder by name, whose
// files the store and the supervisor protect), logs/, state/ and the
// stored recipes private. jetstream/ is made private once the broker
// created it (protectStore).
func protectRoot(root string) error {
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"", modeTraverse}, {dirWork, modeTraverse}, {dirLogs, modePrivate}, {dirState, modePrivate},
		{"packages", modeTraverse}, {"packages/recipes", modePrivate},
		{"packages/artifacts", modeTraverse}, {"packages/artifacts-unarchived", modeTraverse}} {
		path := filepath.Join(root, d.name)
		err := os.MkdirAll(path, d.mode)
		if err == nil {
			err = os.Chmod(path, d.mode)
		}
		if err != nil {
			return fmt.Errorf("root folder %s: %w", path, err)
		}
	}
	return nil
}

// protectStore makes the broker's JetStream folder private to the nucleus.
func protectStore(root string) error {
	path := filepath.Join(root, "jetstream")
	if err := os.Chmod(path, modePrivate); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("root folder %s: %w", path, err)
	}
	return nil
}
