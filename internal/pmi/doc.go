// Package pmi serves the Process Management Interface that MPI libraries
// use to wire up: each rank publishes its address ("business card") in a
// key-value space, waits at a fence until every rank has published, and
// reads the others'. MPICH, Intel MPI and the MPI libraries derived from
// MPICH speak it to whatever launched them, over the file descriptor named
// in PMI_FD.
//
// Both wire protocols are served on one descriptor, told apart by the first
// message, as Slurm's pmi2 plugin does:
//
//   - PMI-1 ("simple PMI"): newline-terminated "cmd=NAME key=value ..."
//     lines (init, get_maxes, get_appnum, get_my_kvsname, put, get,
//     barrier_in, get_universe_size, finalize, abort).
//   - PMI-2: each message is a six-character decimal length followed by
//     "cmd=NAME;key=value;...;" with ';' in values doubled (fullinit,
//     job-getid, info-getjobattr, info-putnodeattr, info-getnodeattr,
//     kvs-put, kvs-fence, kvs-get, finalize, abort).
//
// A Server serves the ranks of one job step on one node. A fence is
// node-local first: when every local rank has reached it, the Server hands
// the puts made since the last fence to its Fencer, which exchanges them
// with the other nodes (through srun, which sees every node's I/O
// connection) and returns the whole step's key-value space. The controller
// never sees this traffic, as DESIGN.md asks.
//
// Imported by the agent (which serves its local ranks), the CLI's srun
// (which joins the nodes' fences) and Gefion's own tasks that wire up
// without an MPI library ("gefion quantum run --nodes N" uses Client, the
// rank's side of PMI-1); it imports only the standard library.
package pmi
