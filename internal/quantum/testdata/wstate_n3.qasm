// W state on three qubits: 001, 010 and 100 with probability 1/3 each.
// ry makes sqrt(1/3)|0> + sqrt(2/3)|1> on q0, with theta = 2 acos(sqrt(1/3))
// = 1.9106332362490186 (OpenQASM 2 has no acos); ch splits the q0=1 branch
// evenly over q1; the ccx between x gates sets q2 when q0 = q1 = 0; cx q1,q0
// clears q0 when q1 = 1.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
ry(1.9106332362490186) q[0];
ch q[0],q[1];
x q[0];
x q[1];
ccx q[0],q[1],q[2];
x q[1];
x q[0];
cx q[1],q[0];
measure q -> c;
