import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kvmhost  # noqa: E402


def pytest_configure(config):  # type: ignore[no-untyped-def]
    config.addinivalue_line("markers", "kvm: needs a usable /dev/kvm (skipped without one)")


_kvm_reason = None


@pytest.fixture
def kvm():  # type: ignore[no-untyped-def]
    """Skip unless a KVM VM can be made here."""
    global _kvm_reason
    if _kvm_reason is None:
        try:
            with kvmhost.System() as s:
                s.create_vm("probe").close()
            _kvm_reason = ""
        except (kvmhost.KvmhostError, OSError) as e:
            _kvm_reason = f"no usable /dev/kvm: {e}"
    if _kvm_reason:
        pytest.skip(_kvm_reason)
