// Package image is a node's store of container images: it pulls them from
// registries (with the job user's credentials) or loads them from local
// files (an OCI image layout directory, a docker/podman save tar, a
// squashfs file), keeps their layers by digest, and unpacks each image once
// into a read-only root filesystem shared by every job on the node that
// uses it.
//
// Layout of a store directory:
//
//	lock                    flock(2)ed while the index is read and written
//	index.json              the images: digest, references, size, last use, config
//	blobs/sha256/HEX        layers, verified against their digest, shared by images
//	images/HEX/rootfs       the unpacked root file system of image sha256:HEX
//	images/HEX.lock         held (shared) by every user of the image
//	tmp/                    work in progress; a crash leaves only this, cleared on Open
//
// Everything reaches its final name by rename(2), so a reader sees a layer
// or a root file system whole or not at all. Files in a root file system
// belong to the store's owner (the agent), never to the uids named in the
// image: an image must not be able to give a host user write access to a
// cache that others execute from, nor a set-uid program on the host, so
// set-uid and set-gid bits and group/other write bits are dropped, and
// read (and, where the owner has it, execute) is given to everyone, since
// jobs of any user run from the same tree.
//
// Who imports it: the agent (to start containerised tasks) and the
// operators' `gefion image` commands. It needs no controller, and the
// controller only calls ParseRef.
package image
