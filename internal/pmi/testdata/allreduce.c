/* Each rank contributes rank+1; every rank prints the sum, which must be
   n(n+1)/2. Used by the package's test against a real MPI library. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv) {
	int rank, size, mine, sum = 0;
	char name[MPI_MAX_PROCESSOR_NAME];
	int len;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Get_processor_name(name, &len);
	mine = rank + 1;
	MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	printf("rank %d of %d sum %d\n", rank, size, sum);
	MPI_Finalize();
	return 0;
}
