import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_generator(root: Path):
    spec = importlib.util.spec_from_file_location("gen_protos_copy", root / "tools" / "gen_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "tools/gen_protos.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_check_fails_when_a_proto_changes(tmp_path):
    # A copy of the generator, protos and generated code; then one proto gains a field.
    for part in ("tools", "protos", "client/motiflens_client/_proto"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    common = tmp_path / "protos/motiflens/v1/common.proto"
    common.write_text(
        common.read_text().replace("  bytes data = 3;\n", "  bytes data = 3;\n  string note = 4;\n")
    )
    result = subprocess.run(
        [sys.executable, "tools/gen_protos.py", "--check"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "stale" in result.stderr and "common_pb2.py" in result.stderr


def test_generated_imports_point_into_the_client_package():
    generated = ROOT / "client/motiflens_client/_proto/motiflens/v1/trainer_pb2_grpc.py"
    text = generated.read_text()
    assert "from motiflens_client._proto.motiflens.v1 import trainer_pb2" in text
    assert "\nfrom motiflens.v1 import" not in text


def test_api_exposes_every_message_and_service():
    from motiflens_client.api import interpreter_pb2_grpc, motifmatch_pb2_grpc, pb, trainer_pb2_grpc

    assert pb.Tensor(dtype=pb.DType.Value("DTYPE_FLOAT32"), shape=[2, 3]).shape == [2, 3]
    assert pb.JobState.Name(pb.JobState.Value("JOB_STATE_SUCCEEDED")) == "JOB_STATE_SUCCEEDED"
    assert hasattr(trainer_pb2_grpc, "TrainerServiceStub")
    assert hasattr(interpreter_pb2_grpc, "InterpreterServiceStub")
    assert hasattr(motifmatch_pb2_grpc, "MotifMatchServiceStub")
