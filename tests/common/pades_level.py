# The PAdES level pyHanko finds for each signature of a PDF, with online fetching disabled:
# only what the file carries is used. Prints one JSON object per regular signature.
#   python pades_level.py FILE.pdf ROOT.pem
# pyHanko names no level itself; it is read off its validations:
#   B-LTA  pyHanko's AdES long-term validation (EN 319 102-1 5.6.3) passes with revocation
#          info required and nothing fetched, and a validated document timestamp after the
#          signature is its evidence record;
#   B-LT   the signature and its timestamp validate now with revocation info *required* for
#          every certificate, from the DSS alone (no fetching);
#   B-T    with revocation checks off, the signature and its timestamp validate;
#   B-B    none of these.
import asyncio
import json
import sys

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.policy_decl import (
    CertificateFetchingRule,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    FreshnessReqType,
)
from pyhanko_certvalidator.registry import SimpleTrustManager


def ades_spec(root):
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[CertTrustAnchor(root)]),
        revinfo_policy=CertRevTrustPolicy(
            REQUIRE_REVINFO,
            freshness=None,
            freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
        ),
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            ),
        )
    )


def holds(status):
    ts = status.timestamp_validity
    return (
        status.bottom_line
        and ts is not None
        and ts.intact
        and ts.valid
        and ts.trusted
    )


def main(path, root_path):
    root = load_cert_from_pemder(root_path)
    with open(path, "rb") as f:
        reader = PdfFileReader(f, strict=False)
        try:
            dss = DocumentSecurityStore.read_dss(reader)
        except NoDSSFoundError:
            dss = None
        for sig in reader.embedded_regular_signatures:
            plain = dict(trust_roots=[root], allow_fetching=False)
            loose = ValidationContext(revocation_mode="soft-fail", **plain)
            basic = validate_pdf_signature(sig, loose, loose)
            lt_ok = False
            lt_problem = "no DSS"
            if dss is not None:
                strict = dss.as_validation_context(
                    dict(revocation_mode="require", **plain)
                )
                strict_ts = dss.as_validation_context(
                    dict(revocation_mode="require", **plain)
                )
                lt = validate_pdf_signature(sig, strict, strict_ts)
                lt_ok = holds(lt)
                lt_problem = None if lt_ok else lt.pretty_print_details()
            lta = asyncio.run(ades_lta_validation(sig, ades_spec(root)))
            lta_ok = (
                lta.ades_subindic == AdESPassed.OK
                and lta.oldest_evidence_record_timestamp is not None
            )
            if lt_ok and lta_ok:
                level = "B-LTA"
            elif lt_ok:
                level = "B-LT"
            elif holds(basic):
                level = "B-T"
            else:
                level = "B-B"
            print(
                json.dumps(
                    {
                        "field": sig.field_name,
                        "level": level,
                        "intact_valid_trusted": basic.bottom_line,
                        "lt_problem": lt_problem,
                        "lta_indication": str(lta.ades_subindic),
                        "lta_failure": lta.failure_msg,
                    }
                )
            )


main(sys.argv[1], sys.argv[2])
