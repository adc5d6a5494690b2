//! Amazon Resource Names, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`: the one place
//! that takes them apart.

/// A view of an ARN's parts, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    /// Empty for global services' resources.
    pub region: &'a str,
    /// Empty for some services' resources (an S3 bucket).
    pub account: &'a str,
    /// Everything after the account, colons included (`function:NAME:QUALIFIER`).
    pub resource: &'a str,
}

/// What a Lambda ARN's resource names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaResource<'a> {
    /// `function:NAME`
    Function(&'a str),
    /// `function:NAME:QUALIFIER`, a version or an alias.
    Qualified { name: &'a str, qualifier: &'a str },
    /// Anything else (a layer, an event source mapping, more parts).
    Other,
}

impl<'a> Arn<'a> {
    /// The parts of `text`, or `None` when it is not an ARN (fewer than six parts, or another
    /// first part).
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        })
    }

    /// What a Lambda ARN names; `None` for another service's.
    pub fn lambda(&self) -> Option<LambdaResource<'a>> {
        if self.service != "lambda" {
            return None;
        }
        let parts: Vec<&str> = self.resource.split(':').collect();
        Some(match parts.as_slice() {
            ["function", name] => LambdaResource::Function(name),
            ["function", name, qualifier] => LambdaResource::Qualified { name, qualifier },
            _ => LambdaResource::Other,
        })
    }

    /// The ARN of function `name` in this ARN's partition, Region and account.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{name}",
            self.partition, self.region, self.account
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_keeps_its_colons_and_fewer_than_six_parts_are_no_arn() {
        let arn = Arn::parse("arn:aws:lambda:eu-west-1:123456789012:function:f:live").unwrap();
        assert_eq!(
            arn,
            Arn {
                partition: "aws",
                service: "lambda",
                region: "eu-west-1",
                account: "123456789012",
                resource: "function:f:live",
            }
        );
        assert_eq!(
            arn.lambda(),
            Some(LambdaResource::Qualified {
                name: "f",
                qualifier: "live"
            })
        );
        assert_eq!(Arn::parse("arn:aws:sqs:us-east-1:1"), None);
        assert_eq!(Arn::parse("urn:aws:sqs:us-east-1:1:q"), None);
        assert_eq!(Arn::parse("orders-worker"), None);
        let bucket = Arn::parse("arn:aws:s3:::bucket").unwrap();
        assert_eq!(
            (bucket.region, bucket.account, bucket.resource),
            ("", "", "bucket")
        );
        assert_eq!(bucket.lambda(), None);
    }

    #[test]
    fn lambda_resources_are_functions_qualified_functions_or_something_else() {
        let of = |text| Arn::parse(text).unwrap().lambda().unwrap();
        assert_eq!(
            of("arn:aws:lambda:r:1:function:f"),
            LambdaResource::Function("f")
        );
        assert_eq!(
            of("arn:aws:lambda:r:1:function:f:1:x"),
            LambdaResource::Other
        );
        assert_eq!(of("arn:aws:lambda:r:1:layer:l:3"), LambdaResource::Other);
    }

    #[test]
    fn a_function_arn_takes_the_partition_region_and_account() {
        let own = Arn::parse("arn:aws-cn:lambda:cn-north-1:123:function:autoscaler:live").unwrap();
        assert_eq!(
            own.function_arn("orders"),
            "arn:aws-cn:lambda:cn-north-1:123:function:orders"
        );
    }
}
