package harness

import "github.com/brisk-containers/brisk/internal/testimage"

// The test image is built by internal/testimage, which hack/mkimage uses
// too; these names keep the harness's API.

// ImageName is the name the busybox test image is imported under.
const ImageName = testimage.Name

// ImageFile is an extra file put into the image's single layer.
type ImageFile = testimage.File

// BuildImage is testimage.Build.
func BuildImage(dir, busybox, name string, extra ...ImageFile) (string, error) {
	return testimage.Build(dir, busybox, name, extra...)
}

// BuildImageCmd is testimage.BuildCmd.
func BuildImageCmd(dir, busybox, name string, cmd []string, extra ...ImageFile) (string, error) {
	return testimage.BuildCmd(dir, busybox, name, cmd, extra...)
}
