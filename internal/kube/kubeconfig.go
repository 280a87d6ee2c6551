package kube

import (
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stepper-cd/stepper/internal/exit"
)

// WaiterFromKubeconfig is NewWaiter for the cluster of a kubeconfig file
// and context; empty strings mean the usual KUBECONFIG and its current
// context. Without o.Namespace, the context's namespace is used.
func WaiterFromKubeconfig(kubeconfig, context string, o WaiterOptions) (*Waiter, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, exit.Usagef("kubeconfig %s: %w; check the file and the context name", describe(kubeconfig, context), err)
	}
	if o.Namespace == "" {
		if ns, _, err := cc.Namespace(); err == nil {
			o.Namespace = ns
		}
	}
	return NewWaiter(cfg, o)
}

func describe(kubeconfig, context string) string {
	s := kubeconfig
	if s == "" {
		s = "(default)"
	}
	if context != "" {
		s += " context " + context
	}
	return s
}
