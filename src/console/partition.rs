//! AWS partitions the broker can open a console in, read from the role ARN, with each one's
//! federation endpoint and console origin (docs/AWS-RULES.md §6.2; GovCloud and China use their own
//! sign-in and console domains).

use super::ConsoleError;
use crate::aws::RoleArn;

/// A partition with a console sign-in flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Partition {
    Aws,
    AwsUsGov,
    AwsCn,
}

impl Partition {
    /// Every supported partition (the default destination allow-list is their union before the
    /// role, and so the partition, is known).
    pub const ALL: [Partition; 3] = [Self::Aws, Self::AwsUsGov, Self::AwsCn];

    /// The partition of a role ARN (`arn:<partition>:iam::...`).
    pub fn of_role(role: &RoleArn) -> Result<Self, ConsoleError> {
        Self::from_name(role.partition())
            .ok_or_else(|| ConsoleError::UnsupportedPartition(role.partition().to_owned()))
    }

    /// `aws`, `aws-us-gov`, `aws-cn`; `None` for any other.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AwsUsGov => "aws-us-gov",
            Self::AwsCn => "aws-cn",
        }
    }

    /// AWS's federation endpoint (getSigninToken and login).
    pub fn federation_endpoint(self) -> &'static str {
        match self {
            Self::Aws => "https://signin.aws.amazon.com/federation",
            Self::AwsUsGov => "https://signin.amazonaws-us-gov.com/federation",
            Self::AwsCn => "https://signin.amazonaws.cn/federation",
        }
    }

    /// The console's host; regional consoles are `<region>.<host>`.
    pub fn console_host(self) -> &'static str {
        match self {
            Self::Aws => "console.aws.amazon.com",
            Self::AwsUsGov => "console.amazonaws-us-gov.com",
            Self::AwsCn => "console.amazonaws.cn",
        }
    }

    /// `https://<console host>/`, the default destination's origin.
    pub fn console_origin(self) -> String {
        format!("https://{}/", self.console_host())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(partition: &str) -> RoleArn {
        RoleArn::parse(&format!("arn:{partition}:iam::123456789012:role/R")).unwrap()
    }

    #[test]
    fn partition_urls_for_each_partition() {
        let gov = Partition::of_role(&role("aws-us-gov")).unwrap();
        assert_eq!(
            gov.federation_endpoint(),
            "https://signin.amazonaws-us-gov.com/federation"
        );
        assert_eq!(
            gov.console_origin(),
            "https://console.amazonaws-us-gov.com/"
        );
        let cn = Partition::of_role(&role("aws-cn")).unwrap();
        assert_eq!(
            cn.federation_endpoint(),
            "https://signin.amazonaws.cn/federation"
        );
        assert_eq!(cn.console_origin(), "https://console.amazonaws.cn/");
        let aws = Partition::of_role(&role("aws")).unwrap();
        assert_eq!(
            aws.federation_endpoint(),
            "https://signin.aws.amazon.com/federation"
        );
        assert_eq!(aws.console_origin(), "https://console.aws.amazon.com/");
    }

    #[test]
    fn unknown_partition_is_refused_not_sent_to_the_commercial_endpoint() {
        let e = Partition::of_role(&role("aws-iso")).unwrap_err();
        assert!(matches!(e, ConsoleError::UnsupportedPartition(ref p) if p == "aws-iso"));
    }
}
