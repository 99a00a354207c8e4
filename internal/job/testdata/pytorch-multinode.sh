#!/bin/bash
# Multi-node data-parallel training with torchrun, 32 GPUs.
#SBATCH --job-name=llama-8b-pretrain
#SBATCH --account=dcai-llm
#SBATCH --partition=gpu
#SBATCH --nodes=4
#SBATCH --gpus-per-node=8
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=12
#SBATCH --mem=0
#SBATCH --time=2-00:00:00
#SBATCH --signal=B:USR1@120     # checkpoint two minutes before the end
#SBATCH --requeue
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out
#SBATCH --error=logs/%x-%j.err
#SBATCH --mail-type=END,FAIL
#SBATCH --mail-user=researcher@example.dk

set -euo pipefail
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_PORT=29500
#SBATCH --time=1:00:00    (after the first command: ignored)

trap 'echo "checkpointing"; kill -USR1 "$child"' USR1
srun torchrun --nnodes="$SLURM_NNODES" --nproc_per_node=8 train.py --config configs/8b.yaml &
child=$!
wait "$child"
