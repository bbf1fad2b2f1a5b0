// Command etcd is the etcd server of module go.etcd.io/etcd/server/v3, built from the
// pinned version in this module's go.mod (the etcd repository's own main package lives
// in a module that cannot be installed with replace-free `go install`).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
