// One-bit full adder on all eight inputs at once.
// q0 = a, q1 = b, q2 = carry in (becomes the sum), q3 = carry out.
// Every (a, b, cin) has probability 1/8 and yields
// c = cout sum b a with sum = a^b^cin, cout = ab | cin(a^b).
OPENQASM 2.0;
include "qelib1.inc";
qreg q[4];
creg c[4];
h q[0];
h q[1];
h q[2];
ccx q[0],q[1],q[3];
cx q[0],q[1];
ccx q[1],q[2],q[3];
cx q[1],q[2];
cx q[0],q[1];
measure q -> c;
