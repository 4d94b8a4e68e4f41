// Command localcluster starts a local control plane (etcd + kube-apiserver, the same binaries
// the tests use) with the WatchedImage CRD installed, writes a kubeconfig for it, and runs
// the command given after "--" with KUBECONFIG pointing at it. `make run` uses it on a
// machine with no reachable cluster. Objects persist across runs under bin/local/etcd.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	dir := flag.String("dir", "bin/local", "where the kubeconfig and etcd data live")
	crds := flag.String("crds", "config/crd/bases", "CRD manifests to install")
	flag.Parse()
	if err := run(*dir, *crds, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(dir, crds string, command []string) error {
	if len(command) == 0 {
		return errors.New("usage: localcluster [--dir D] -- COMMAND [ARGS...]")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	dataDir := filepath.Join(dir, "etcd")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: dataDir}
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver (KUBEBUILDER_ASSETS=%s): %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	defer func() { _ = env.Stop() }()

	user, err := env.AddUser(envtest.User{Name: "developer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding a user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, `
Local control plane is up (kube-apiserver %s), with the WatchedImage CRD installed.
In another terminal:

    export KUBECONFIG=%s
    kubectl apply -f config/samples/
    kubectl get wi

`, env.Config.Host, kubeconfigPath)

	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfigPath)
	if err := cmd.Start(); err != nil {
		return err
	}
	// Ctrl-C reaches the child through the terminal's process group; the control plane is
	// stopped once the child has exited.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() < 0 {
			return nil // ended by a signal: the usual way to stop `make run`
		}
		return err
	}
	return nil
}
