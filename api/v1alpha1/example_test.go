package v1alpha1_test

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
)

// Another controller or service reads upgrade status from the API server with the typed API.
// It compiles with the package, so it cannot drift from the types.
func Example_readStatus() {
	scheme := runtime.NewScheme()
	if err := imagesv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	c, err := client.New(ctrl.GetConfigOrDie(), client.Options{Scheme: scheme})
	if err != nil {
		panic(err)
	}

	var list imagesv1.WatchedImageList
	if err := c.List(context.Background(), &list, client.InNamespace("mojaloop")); err != nil {
		panic(err)
	}
	for _, wi := range list.Items {
		// Trust status only when it describes the current spec and the last scan worked.
		ready := meta.FindStatusCondition(wi.Status.Conditions, imagesv1.ReadyCondition)
		if wi.Status.ObservedGeneration != wi.Generation || ready == nil || ready.Status != "True" {
			continue
		}
		if wi.Status.UpgradeAvailable {
			fmt.Printf("%s: %s -> %s\n", wi.Name, wi.Spec.CurrentTag, wi.Status.LatestImage)
		}
	}
}
