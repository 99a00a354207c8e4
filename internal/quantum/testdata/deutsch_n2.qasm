// Deutsch's algorithm with the balanced oracle f(x) = x: the input qubit
// reads 1 with probability 1.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[1];
x q[1];
h q[0];
h q[1];
cx q[0],q[1];
h q[0];
measure q[0] -> c[0];
