package quantum

// qelib1Source is the standard gate library, "qelib1.inc", as printed in
// the OpenQASM 2.0 specification (Cross, Bishop, Smolin, Gambetta, "Open
// Quantum Assembly Language", arXiv:1707.03429, appendix): every gate is
// defined from U and CX exactly as there. It is parsed by the same parser as
// user programs, with one exception: cu3. The specification's cu3 is the
// controlled form of its U, Rz(phi) Ry(theta) Rz(lambda), which differs
// from u3 by the phase e^(-i(phi+lambda)/2) on the control's |1> branch, a
// relative phase that measurements see. Qiskit's qelib1.inc adds
// u1((lambda+phi)/2) on the control, which makes cu3 the controlled u3
// (Qiskit's CU3Gate), and the circuits people export from Qiskit mean that;
// so does this library.
const qelib1Source = `// Standard gate library of OpenQASM 2.0.
gate u3(theta,phi,lambda) q { U(theta,phi,lambda) q; }
gate u2(phi,lambda) q { U(pi/2,phi,lambda) q; }
gate u1(lambda) q { U(0,0,lambda) q; }
gate cx c,t { CX c,t; }
gate id a { U(0,0,0) a; }
gate u0(gamma) q { U(0,0,0) q; }
gate x a { u3(pi,0,pi) a; }
gate y a { u3(pi,pi/2,pi/2) a; }
gate z a { u1(pi) a; }
gate h a { u2(0,pi) a; }
gate s a { u1(pi/2) a; }
gate sdg a { u1(-pi/2) a; }
gate t a { u1(pi/4) a; }
gate tdg a { u1(-pi/4) a; }
gate rx(theta) a { u3(theta,-pi/2,pi/2) a; }
gate ry(theta) a { u3(theta,0,0) a; }
gate rz(phi) a { u1(phi) a; }
gate cz a,b { h b; cx a,b; h b; }
gate cy a,b { sdg b; cx a,b; s b; }
gate ch a,b {
  h b; sdg b;
  cx a,b;
  h b; t b;
  cx a,b;
  t b; h b; s b; x b; s a;
}
gate ccx a,b,c {
  h c;
  cx b,c; tdg c;
  cx a,c; t c;
  cx b,c; tdg c;
  cx a,c; t b; t c; h c;
  cx a,b; t a; tdg b;
  cx a,b;
}
gate crz(lambda) a,b {
  u1(lambda/2) b;
  cx a,b;
  u1(-lambda/2) b;
  cx a,b;
}
gate cu1(lambda) a,b {
  u1(lambda/2) a;
  cx a,b;
  u1(-lambda/2) b;
  cx a,b;
  u1(lambda/2) b;
}
gate cu3(theta,phi,lambda) c,t {
  u1((lambda+phi)/2) c;
  u1((lambda-phi)/2) t;
  cx c,t;
  u3(-theta/2,0,-(phi+lambda)/2) t;
  cx c,t;
  u3(theta/2,phi,0) t;
}
`

// qelibExtraSource holds gates that later versions of qelib1.inc (as
// shipped with Qiskit) add and that published benchmark circuits use. They
// are not part of the 2.0 specification, so they are an extension: a
// program that includes qelib1.inc may use them, and a program that defines
// a gate of the same name gets its own definition instead. The definitions
// are written from the gates' matrices and checked against them in tests.
const qelibExtraSource = `
gate u(theta,phi,lambda) q { U(theta,phi,lambda) q; }
gate p(lambda) q { U(0,0,lambda) q; }
gate sx a { sdg a; h a; sdg a; }
gate sxdg a { s a; h a; s a; }
gate swap a,b { cx a,b; cx b,a; cx a,b; }
gate cswap a,b,c { cx c,b; ccx a,b,c; cx c,b; }
gate cry(lambda) a,b { ry(lambda/2) b; cx a,b; ry(-lambda/2) b; cx a,b; }
gate crx(lambda) a,b { h b; crz(lambda) a,b; h b; }
gate cp(lambda) a,b { cu1(lambda) a,b; }
gate csx a,b { h b; cu1(pi/2) a,b; h b; }
gate cu(theta,phi,lambda,gamma) c,t { u1(gamma) c; cu3(theta,phi,lambda) c,t; }
gate rzz(theta) a,b { cx a,b; u1(theta) b; cx a,b; }
gate rxx(theta) a,b { h a; h b; cx a,b; u1(theta) b; cx a,b; h a; h b; }
gate rccx a,b,c { u2(0,pi) c; u1(pi/4) c; cx b,c; u1(-pi/4) c; cx a,c; u1(pi/4) c; cx b,c; u1(-pi/4) c; u2(0,pi) c; }
` + qelibMultiControlSource

// qelibMultiControlSource holds the gates with three and four controls
// that Qiskit's qelib1.inc adds. c3x, c3sqrtx and c4x are exact
// multi-controlled gates, built here from controlled phases: a phase lambda
// on |1111> (controls a, b, c and target d) is lambda/2 on b.c.d, minus
// lambda/2 on (a xor b).c.d, plus lambda/2 on a.c.d, because
// b - (a xor b) + a = 2ab; each of those is the same identity again one
// level down, ending in cu1. Between Hadamards on the target, a phase of pi
// is X and one of pi/2 is sqrt(X). c4x uses the identity once more, with
// sqrt(X)^3 as the inverse of sqrt(X). The simulator turns each call into
// one controlled kernel (the compiler takes a gate's unitary), so the
// length of these expansions costs nothing when a circuit runs.
//
// rc3x is not a controlled gate but a Toffoli on four qubits up to relative
// phases, as Qiskit defines it: the circuit of Fig. 4 of D. Maslov,
// "Advantages of using relative-phase Toffoli gates with an application to
// multiple control Toffoli optimization", Phys. Rev. A 93, 022311 (2016),
// arXiv:1508.03273.
const qelibMultiControlSource = `
gate c3x a,b,c,d {
  h d;
  cu1(pi/4) c,d; cx b,c; cu1(-pi/4) c,d; cx b,c; cu1(pi/4) b,d;
  cx a,b;
  cu1(-pi/4) c,d; cx b,c; cu1(pi/4) c,d; cx b,c; cu1(-pi/4) b,d;
  cx a,b;
  cu1(pi/4) c,d; cx a,c; cu1(-pi/4) c,d; cx a,c; cu1(pi/4) a,d;
  h d;
}
gate c3sqrtx a,b,c,d {
  h d;
  cu1(pi/8) c,d; cx b,c; cu1(-pi/8) c,d; cx b,c; cu1(pi/8) b,d;
  cx a,b;
  cu1(-pi/8) c,d; cx b,c; cu1(pi/8) c,d; cx b,c; cu1(-pi/8) b,d;
  cx a,b;
  cu1(pi/8) c,d; cx a,c; cu1(-pi/8) c,d; cx a,c; cu1(pi/8) a,d;
  h d;
}
gate c4x a,b,c,d,e {
  c3sqrtx b,c,d,e;
  cx a,b;
  c3sqrtx b,c,d,e; c3sqrtx b,c,d,e; c3sqrtx b,c,d,e;
  cx a,b;
  c3sqrtx a,c,d,e;
}
gate rc3x a,b,c,d {
  u2(0,pi) d; u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d;
  cx a,d; u1(pi/4) d; cx b,d; u1(-pi/4) d; cx a,d; u1(pi/4) d; cx b,d; u1(-pi/4) d;
  u2(0,pi) d; u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d;
}
`
