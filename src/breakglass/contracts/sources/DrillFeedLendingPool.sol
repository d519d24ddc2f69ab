// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/access/AccessControl.sol";
import "@openzeppelin/contracts/security/Pausable.sol";
import "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

interface IDrillFeed {
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80);
}

/// @title DrillFeedLendingPool
/// @notice The `dependency-failure` drill's lending pool: suppliers lend `asset`, borrowers
///         post `collateralToken` valued by a Chainlink-style feed (8 decimals) and borrow up
///         to 75% of it. Pausable by PAUSER_ROLE.
/// @dev THE FLAW: the feed's updatedAt is never checked, so a feed that stopped updating
///      keeps valuing collateral at a price the market left behind. Never deploy it.
contract DrillFeedLendingPool is AccessControl, Pausable {
    using SafeERC20 for IERC20;

    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    uint256 public constant LTV_PERCENT = 75;

    IERC20 public immutable asset;
    IERC20 public immutable collateralToken;
    IDrillFeed public immutable feed;

    mapping(address => uint256) public supplied;
    mapping(address => uint256) public collateral;
    mapping(address => uint256) public debt;

    event Supplied(address indexed user, uint256 amount);
    event CollateralDeposited(address indexed user, uint256 amount);
    event Borrowed(address indexed user, uint256 amount, uint256 price);

    constructor(IERC20 asset_, IERC20 collateral_, IDrillFeed feed_, address admin, address pauser) {
        asset = asset_;
        collateralToken = collateral_;
        feed = feed_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(PAUSER_ROLE, pauser);
    }

    /// @notice Price of one collateral token in `asset`, 18 decimals, from the feed.
    function price() public view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        require(answer > 0, "DrillFeedLendingPool: bad price");
        return uint256(answer) * 1e10;
    }

    function supply(uint256 amount) external whenNotPaused {
        supplied[msg.sender] += amount;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        emit Supplied(msg.sender, amount);
    }

    function depositCollateral(uint256 amount) external whenNotPaused {
        collateral[msg.sender] += amount;
        collateralToken.safeTransferFrom(msg.sender, address(this), amount);
        emit CollateralDeposited(msg.sender, amount);
    }

    function borrow(uint256 amount) external whenNotPaused {
        uint256 spot = price();
        uint256 limit = collateral[msg.sender] * spot / 1e18 * LTV_PERCENT / 100;
        require(debt[msg.sender] + amount <= limit, "DrillFeedLendingPool: undercollateralised");
        debt[msg.sender] += amount;
        asset.safeTransfer(msg.sender, amount);
        emit Borrowed(msg.sender, amount, spot);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }
}
